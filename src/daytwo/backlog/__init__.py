"""The backlog: improvement items with owners, priorities and SLAs; changes and their
measured impact; feedback and its loop."""
