// Server-sent events read from a fetch() response body (EventSource cannot POST or send headers).

function parse(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line[0] === ":") continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (name === "event") event = value;
    else if (name === "data") data.push(value);
  }
  if (!data.length) return null;
  try {
    return { event, data: JSON.parse(data.join("\n")) };
  } catch {
    return null;
  }
}

/** Calls `onEvent({event, data})` for each event as it arrives; resolves when the stream ends. */
export async function readEvents(response, onEvent) {
  const decoder = new TextDecoder();
  let buffer = "";
  const flush = (final) => {
    buffer = buffer.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) onEvent(event);
    }
    if (final && buffer.trim()) {
      const event = parse(buffer);
      if (event) onEvent(event);
    }
  };
  if (!response.body || !response.body.getReader) {
    buffer = await response.text();
    return flush(true);
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value, { stream: !done });
      flush(done);
      if (done) return;
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
}
