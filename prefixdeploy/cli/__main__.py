"""`python -m prefixdeploy.cli`: the same command as `prefixdeploy`."""

from prefixdeploy.cli import main

main()
