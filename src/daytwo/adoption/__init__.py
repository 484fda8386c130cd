"""Adoption: human agents' use of the AI by agent, team, site, tenure, journey and feature;
who stopped and where adoption decays; workaround signals; champions; the pilot and the rollout
compared like for like. Agents are known by their pseudonymous ``agent_ref`` only."""
