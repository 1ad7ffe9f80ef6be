"""`python -m featbench`: the same as the `featbench` command."""

from featbench.cli import main

main()
