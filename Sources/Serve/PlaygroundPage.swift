/// The page served at `/`: a prompt box, the sampling settings, and the completion streaming in
/// (server-sent events from `POST /v1/completions` read with fetch). One static string, no
/// files or scripts from elsewhere.
enum PlaygroundPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gpt-dist serve</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; }
  textarea { width: 100%; box-sizing: border-box; font: 1rem ui-monospace, monospace; }
  fieldset { display: flex; flex-wrap: wrap; gap: 0.8rem 1.4rem; border: 1px solid #ccc; margin: 0.8rem 0; }
  label { font-size: 0.9rem; }
  input[type=number] { width: 6rem; }
  #output { white-space: pre-wrap; font: 1rem ui-monospace, monospace; border: 1px solid #ccc; padding: 0.8rem;
            min-height: 8rem; background: #fafafa; }
  #prompt-echo { color: #777; }
  #status { color: #555; font-size: 0.9rem; margin: 0.5rem 0; }
</style>
</head>
<body>
<h1>gpt-dist serve — <span id="model">…</span></h1>
<form id="form">
  <textarea id="prompt" rows="4" placeholder="Prompt">ROMEO:</textarea>
  <fieldset>
    <label>max_tokens <input id="max_tokens" type="number" min="1" value="200"></label>
    <label>temperature <input id="temperature" type="number" min="0" step="0.05" value="0.8"></label>
    <label>top_k <input id="top_k" type="number" min="0" value="200"></label>
    <label>top_p <input id="top_p" type="number" min="0.01" max="1" step="0.01" value="1"></label>
    <label>seed <input id="seed" type="number" min="0" placeholder="random"></label>
    <label>stop <input id="stop" type="text" placeholder="none"></label>
  </fieldset>
  <button id="go" type="submit">Generate</button>
  <button id="cancel" type="button" disabled>Stop</button>
</form>
<div id="status"></div>
<div id="output"><span id="prompt-echo"></span><span id="completion"></span></div>
<script>
const $ = (id) => document.getElementById(id);
let controller = null;
fetch("/v1/models").then((r) => r.json()).then((m) => {
  const d = m.data[0];
  $("model").textContent = `${d.id} (${d.n_layer}×${d.n_head}×${d.n_embd}, context ${d.block_size})`;
});
$("cancel").onclick = () => { if (controller) controller.abort(); };
$("form").onsubmit = async (event) => {
  event.preventDefault();
  const body = { prompt: $("prompt").value, stream: true };
  for (const name of ["max_tokens", "top_k", "seed"]) {
    if ($(name).value !== "") body[name] = parseInt($(name).value, 10);
  }
  for (const name of ["temperature", "top_p"]) {
    if ($(name).value !== "") body[name] = parseFloat($(name).value);
  }
  if ($("stop").value !== "") body.stop = [$("stop").value.replace(/\\n/g, "\n")];
  $("prompt-echo").textContent = body.prompt;
  $("completion").textContent = "";
  $("status").textContent = "generating…";
  $("go").disabled = true; $("cancel").disabled = false;
  controller = new AbortController();
  const started = performance.now();
  let tokens = 0;
  try {
    const response = await fetch("/v1/completions", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body), signal: controller.signal,
    });
    if (!response.ok) {
      const e = await response.json();
      $("status").textContent = `error ${response.status}: ${e.error.message}`;
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let end;
      while ((end = pending.indexOf("\n\n")) >= 0) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") continue;
        const event = JSON.parse(data);
        if (event.error) { $("status").textContent = `error: ${event.error.message}`; continue; }
        $("completion").textContent += event.choices[0].text;
        if (event.usage) tokens = event.usage.completion_tokens;
        if (event.choices[0].finish_reason) {
          const seconds = (performance.now() - started) / 1000;
          $("status").textContent = `done (${event.choices[0].finish_reason}): ${tokens} tokens in ${seconds.toFixed(2)} s`;
        }
      }
    }
  } catch (e) {
    $("status").textContent = e.name === "AbortError" ? "stopped" : `error: ${e}`;
  } finally {
    $("go").disabled = false; $("cancel").disabled = true; controller = null;
  }
};
</script>
</body>
</html>
"""#
}
