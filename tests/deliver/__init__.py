"""Tests of the delivery stage: audience, ledger, engine, providers, crash recovery, CLI."""
