"""SQL conditions several groups of the catalog share, in the portable (DuckDB) dialect."""

from __future__ import annotations

from daytwo.store.ledger.kinds import DeploymentKind

OUTCOME_KNOWN = "count_if(outcome IS NOT NULL)"
RESOLVED = "outcome IN ('contained', 'resolved_by_agent')"
# Kinds of deployment whose AI answers customers itself, and the one that helps agents.
ANSWERING = (DeploymentKind.virtual_agent.value, DeploymentKind.llm_app.value)
ASSISTING = (DeploymentKind.agent_assist.value,)
# Conversations an agent handled with the AI's help, and without it.
ASSISTED = "agent_ref IS NOT NULL AND ai_used"
UNASSISTED = "agent_ref IS NOT NULL AND NOT ai_used"
AGENT = "agent_ref IS NOT NULL"
