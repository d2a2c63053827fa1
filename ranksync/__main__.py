"""`python -m ranksync`: the same command line as the `ranksync` script."""

from ranksync.checker.cli import main

if __name__ == "__main__":
    main(prog_name="ranksync")
