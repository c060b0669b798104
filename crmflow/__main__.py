"""`python -m crmflow` runs the same CLI as the `crmflow` console script."""

from crmflow.cli import main

if __name__ == "__main__":
    main()
