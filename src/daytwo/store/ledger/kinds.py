"""What kind of AI a deployment is: an enum with no database behind it, so the command line
can offer it without loading the ledger."""

from __future__ import annotations

import enum


class DeploymentKind(enum.StrEnum):
    """A virtual agent answers customers itself; an agent-assist tool helps human agents;
    an LLM app is anything else built on a language model."""

    virtual_agent = "virtual_agent"
    agent_assist = "agent_assist"
    llm_app = "llm_app"
