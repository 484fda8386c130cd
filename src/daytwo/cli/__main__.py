"""`python -m daytwo.cli`."""

from daytwo.cli.main import main

main()
