"""Chat Completions answers from endpoints that speak OpenAI's Responses API: a `Response`
(`answer.py`) and a Responses event stream (`stream.py`) translated back into the
`chat.completion` and `chat.completion.chunk` objects the router's pipeline reads, with a failed
Response or an in-band `error` event as the OpenAI error it relays or fails over on.
"""
