"""Send an OpenAI-SDK conversation to daytwo, traced by OpenInference.

    pip install openai openinference-instrumentation-openai \
        opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
    export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:8000/v1/traces
    export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20$DAYTWO_INGEST_KEY"
    export OTEL_RESOURCE_ATTRIBUTES=daytwo.deployment=care-bot
    export OPENAI_BASE_URL=...   # OpenAI, or any OpenAI-compatible server
    export OPENAI_API_KEY=...
    python openinference_openai.py
"""

from openai import OpenAI
from openinference.instrumentation import using_session, using_user
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# The exporter reads the endpoint and the key from the OTEL_EXPORTER_OTLP_* variables.
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
OpenAIInstrumentor().instrument(tracer_provider=provider)

client = OpenAI()
messages = [{"role": "system", "content": "You are the support assistant of a bank."}]
# One session id per conversation: daytwo makes it one interaction.
with using_session("chat-2026-0001"), using_user("customer-881"):
    for question in ("Why was my card charged twice?", "Can you refund one of them?"):
        messages.append({"role": "user", "content": question})
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        answer = reply.choices[0].message.content or ""
        messages.append({"role": "assistant", "content": answer})
        print(f"> {question}\n{answer}")

provider.shutdown()  # flushes the last spans
