"""Reports: business value and ROI, the weekly stakeholder update and the monthly review."""
