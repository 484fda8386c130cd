"""`python -m daytwo`."""

from daytwo.cli.main import main

main()
