"""Tests of ``newsletter archive``."""
