"""Budgets and rate limits that hold under concurrency and across replicas: reserve before the call, settle after."""
