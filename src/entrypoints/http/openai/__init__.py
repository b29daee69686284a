"""The OpenAI Responses API, served under `/openai/v1` (docs/api.md): responses and
conversations, for any OpenAI SDK pointed at the service."""
