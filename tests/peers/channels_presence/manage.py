#!/usr/bin/env python
# Why: Django's standard command-line entry point; run.sh uses it to migrate the
# SQLite database and seed the test users before starting daphne.
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "roompeer.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
