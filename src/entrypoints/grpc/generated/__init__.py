"""Code generated from protos/ by `make proto`; do not edit."""
