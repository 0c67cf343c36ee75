"""cdstack: load and validate the stack's configuration, build the CdStack graph, export its outputs."""

from components.program import main

main()
