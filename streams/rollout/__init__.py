"""Safe rollout: which events a canary answers, and (later) the breaker and automatic rollback.

The stages themselves (champion, canary, shadows, history) are ``models.stages``; loading what they
name is ``streams.serving``; applying a change on a running worker is ``streams.model_updates``.
"""
