"""The data contract: event, catalog and output schemas, shared types and errors.

Everything else imports from here; this package imports nothing of meterline.
"""
