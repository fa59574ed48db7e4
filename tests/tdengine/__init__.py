"""Tests of the emulated TDengine 2.0.20 (lab.tdengine)."""
