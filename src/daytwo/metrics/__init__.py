"""The metric catalog and its calculation: what each KPI means, and its value for any slice."""
