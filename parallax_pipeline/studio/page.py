"""The upload page at ``GET /``: drop pictures and audio, watch the scenes render with
their depth previews, play and download the video. One self-contained HTML document
that talks to the same API as every other client (the token is kept in the browser's
localStorage; the media URLs in responses are signed, so <img> and <video> need none)."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parallax Studio</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:15px system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
 #drop{border:2px dashed #888;border-radius:8px;padding:2rem;text-align:center;margin:1rem 0}
 #drop.over{background:#eef}
 table{border-collapse:collapse;width:100%} td,th{padding:.25rem .5rem;border-bottom:1px solid #ddd;text-align:left}
 .scenes{display:flex;flex-wrap:wrap;gap:.75rem}.scene{border:1px solid #ccc;border-radius:6px;padding:.5rem;width:12rem}
 .scene img{width:100%;display:block;min-height:2rem;background:#eee}.problems{color:#a00}
 progress{width:100%} video{width:100%;margin-top:1rem}
</style></head><body>
<h1>Parallax Studio</h1>
<p id="tokenrow">API token: <input id="token" type="password" size="40" autocomplete="off"></p>
<div id="drop">Drop pictures, depth maps, narration, music, effects and project.yaml here, or
 <input id="files" type="file" multiple></div>
<table id="list"><thead><tr><th>file</th><th>as</th></tr></thead><tbody></tbody></table>
<p><button id="upload" disabled>Upload and render</button></p>
<progress id="sent" max="1" value="0" hidden></progress>
<ul id="problems" class="problems"></ul>
<h2 id="state"></h2><p id="progress"></p>
<div id="scenes" class="scenes"></div>
<div id="done"></div>
<script>
const KINDS = ["images","depth","voiceover","narration","music","sfx","project.yaml","(skip)"];
const PICTURE = /\\.(png|jpe?g|webp|bmp|tiff?|gif|tga|ppm|avif|jp2)$/i, AUDIO = /\\.(wav|mp3|m4a|aac|ogg|opus|flac)$/i;
let chosen = [];
const $ = id => document.getElementById(id);
$("token").value = localStorage.getItem("parallax-token") || "";
const headers = () => $("token").value ? {Authorization: "Bearer " + $("token").value} : {};
fetch("/v1/me").then(r => { if (r.ok) $("tokenrow").hidden = true; });
const stem = name => name.replace(/\\.[^.]*$/, "");
function guess(file, all) {
  const path = (file.webkitRelativePath || file.name).toLowerCase(), name = file.name;
  if (name === "project.yaml") return "project.yaml";
  if (path.includes("depth/") || /\\.npy$/i.test(name)) return "depth";
  if (PICTURE.test(name)) {
    const twin = all.some(o => o !== file && stem(o.name) === stem(name) && PICTURE.test(o.name));
    return twin && /\\.png$/i.test(name) ? "depth" : "images";
  }
  if (AUDIO.test(name)) {
    if (path.includes("sfx/")) return "sfx";
    if (/^music\\./i.test(name)) return "music";
    if (/^(voiceover|narration)\\./i.test(name)) return "narration";
    return all.some(o => PICTURE.test(o.name) && stem(o.name) === stem(name)) ? "voiceover" : "sfx";
  }
  return "(skip)";
}
function take(files) {
  const all = [...chosen.map(c => c.file), ...files];
  chosen = all.map(file => ({file, kind: guess(file, all)}));
  const body = $("list").tBodies[0]; body.innerHTML = "";
  chosen.forEach((c, i) => {
    const row = body.insertRow(), select = document.createElement("select");
    row.insertCell().textContent = c.file.name;
    KINDS.forEach(k => select.add(new Option(k, k, false, k === c.kind)));
    select.onchange = () => { chosen[i].kind = select.value; };
    select.dataset.file = c.file.name; row.insertCell().appendChild(select);
  });
  $("upload").disabled = !chosen.length;
}
$("files").onchange = e => take([...e.target.files]);
const drop = $("drop");
drop.ondragover = e => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = e => { e.preventDefault(); drop.classList.remove("over"); take([...e.dataTransfer.files]); };
function problems(list) {
  $("problems").innerHTML = "";
  for (const p of list) { const li = document.createElement("li"); li.textContent = (p.loc || []).slice(1).join(" / ") + ": " + p.msg; $("problems").appendChild(li); }
}
$("upload").onclick = () => {
  localStorage.setItem("parallax-token", $("token").value);
  const form = new FormData();
  for (const c of chosen) if (c.kind !== "(skip)") form.append(c.kind, c.file, c.file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/projects");
  for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
  $("sent").hidden = false; problems([]);
  xhr.upload.onprogress = e => { if (e.lengthComputable) $("sent").value = e.loaded / e.total; };
  xhr.onload = () => {
    const answer = JSON.parse(xhr.responseText || "{}");
    if (xhr.status === 201) { $("upload").disabled = true; follow(answer.id); }
    else problems(answer.detail || [{loc: [], msg: "HTTP " + xhr.status}]);
  };
  xhr.send(form);
};
async function follow(id) {
  const r = await fetch("/v1/projects/" + id, {headers: headers()});
  const s = await r.json();
  $("state").textContent = "Project " + id + ": " + s.state;
  if (s.progress) $("progress").textContent = s.progress.frames_done + " / " + s.progress.frames_total + " frames rendered";
  const box = $("scenes");
  for (const scene of s.scenes || []) {
    let card = document.getElementById("scene-" + scene.id);
    if (!card) { card = document.createElement("div"); card.className = "scene"; card.id = "scene-" + scene.id;
      card.innerHTML = "<b></b><img alt='depth preview'><div class='st'></div>"; box.appendChild(card);
      card.querySelector("b").textContent = scene.id; }
    card.querySelector(".st").textContent = "depth " + scene.depth_map.state + ", clip " + scene.parallax_clip.state +
      (scene.parallax_clip.error || scene.depth_map.error ? ": " + (scene.parallax_clip.error || scene.depth_map.error) : "");
    const img = card.querySelector("img");
    if (scene.depth_preview_url && !img.getAttribute("src")) img.src = scene.depth_preview_url;
  }
  if (s.state === "done") {
    $("done").innerHTML = "<video controls></video><p><a download>Download the video</a></p>";
    $("done").querySelector("video").src = s.video_url;
    $("done").querySelector("a").href = s.video_url;
  } else if (s.state === "failed") problems((s.errors || []).map(msg => ({msg})));
  else setTimeout(() => follow(id), 1000);
}
</script></body></html>
"""
