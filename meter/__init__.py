"""Metering: meter definitions, reading and validating usage events, de-duplication."""
