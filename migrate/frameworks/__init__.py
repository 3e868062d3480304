"""Analyses of web frameworks shared by the rules and the project index."""
