"""``python -m picklecheck``: the same command as the ``picklecheck`` script."""

from picklecheck.cli.command import main

if __name__ == "__main__":
    main()
