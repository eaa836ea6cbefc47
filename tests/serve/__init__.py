"""Tests of ``newsletter serve``."""
