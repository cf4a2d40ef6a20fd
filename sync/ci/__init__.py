"""Automation around the commands: the scheduled CI workflow that turns an upstream release
into a reviewed pull request (``sync ci init``)."""
