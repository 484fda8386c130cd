"""Send an OpenAI-SDK conversation to daytwo, traced by the official OpenTelemetry GenAI
instrumentation (opentelemetry-instrumentation-openai-v2).

    pip install openai opentelemetry-instrumentation-openai-v2 \
        opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
    export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:8000/v1/traces
    export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20$DAYTWO_INGEST_KEY"
    export OTEL_RESOURCE_ATTRIBUTES=daytwo.deployment=care-bot
    # The latest GenAI conventions, with the messages on the span (not in log events):
    export OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental
    export OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only
    export OPENAI_BASE_URL=...   # OpenAI, or any OpenAI-compatible server
    export OPENAI_API_KEY=...
    python otel_genai_openai.py
"""

from openai import OpenAI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
OpenAIInstrumentor().instrument(tracer_provider=provider)
tracer = provider.get_tracer("support-bot")

client = OpenAI()
messages = [{"role": "system", "content": "You are the support assistant of a bank."}]
# The app's own span names the conversation; the model calls inside it are its turns.
with tracer.start_as_current_span(
    "invoke_agent support",
    attributes={"gen_ai.conversation.id": "ticket-2026-0002", "user.id": "customer-881"},
):
    for question in ("My card was declined abroad.", "It is a debit card."):
        messages.append({"role": "user", "content": question})
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        answer = reply.choices[0].message.content or ""
        messages.append({"role": "assistant", "content": answer})
        print(f"> {question}\n{answer}")

provider.shutdown()
