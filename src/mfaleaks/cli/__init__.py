"""The command line: parse options, call run.scan, print or write the report.

Click commands (command.py), the fast entry point (launch.py), the progress
display and the config file. The only package that prints. May import run,
report, triage and the stage packages' public helpers (rules check, masking);
nothing imports cli.
"""
