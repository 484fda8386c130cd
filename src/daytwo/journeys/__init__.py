"""Journeys (call types): how each performs, and where in a conversation it goes wrong."""
