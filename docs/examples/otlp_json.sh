#!/bin/sh
# One GenAI span as OTLP/JSON with curl: what any language's exporter sends.
#   DAYTWO_URL=http://127.0.0.1:8000 DAYTWO_INGEST_KEY=dt_... sh otlp_json.sh
set -eu
end=$(date +%s)000000000
start=$((end - 1500000000))
sed -e "s/START_NS/$start/" -e "s/END_NS/$end/" "$(dirname "$0")/otlp_span.json" |
  curl -sS -X POST "${DAYTWO_URL:-http://127.0.0.1:8000}/v1/traces" \
    -H "Authorization: Bearer $DAYTWO_INGEST_KEY" \
    -H "Content-Type: application/json" \
    --data-binary @-
echo
