"""Typed contracts: Python types as JSON Schema, and rpc routes."""
