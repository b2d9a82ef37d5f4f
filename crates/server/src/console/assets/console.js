// s3gate console: the few things a page cannot do by itself. Every request carries the
// session's CSRF token (from <meta name="csrf">); S3 requests go to /s3/... on this origin,
// where the gateway runs them as the logged-in user.
'use strict';
(() => {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const PART = 8 * 1024 * 1024;        // multipart above this size, parts of this size
  const status = document.getElementById('status');
  const say = (text, error) => {
    status.textContent = text;
    status.classList.toggle('error', !!error);
  };
  const enc = (s) => encodeURIComponent(s);
  const encKey = (k) => k.split('/').map(enc).join('/');
  window.s3gateProgress = [];

  // One XMLHttpRequest (for upload progress) as a promise: {status, text, xhr}.
  const request = (method, url, body, headers, onprogress) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.setRequestHeader('x-s3gate-csrf', csrf);
    for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
    if (onprogress) xhr.upload.onprogress = (e) => e.lengthComputable && onprogress(e.loaded);
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText, xhr });
    xhr.onerror = () => reject(new Error('network error'));
    xhr.send(body === undefined ? null : body);
  });
  // The S3 (or console) error of a failed response, as text.
  const why = (r) => {
    try {
      if (r.text.startsWith('{')) { const j = JSON.parse(r.text); return `${j.code}: ${j.message}`; }
      const doc = new DOMParser().parseFromString(r.text, 'application/xml');
      const code = doc.querySelector('Code'), msg = doc.querySelector('Message');
      if (code) return `${code.textContent}: ${msg ? msg.textContent : ''}`;
    } catch (e) { /* fall through */ }
    return `HTTP ${r.status}`;
  };
  const ok = (r) => { if (r.status >= 300) throw new Error(why(r)); return r; };
  const xml = (r) => new DOMParser().parseFromString(r.text, 'application/xml');

  // Retries a network failure (not a refusal) a few times with a growing pause.
  const retrying = async (f) => {
    for (let attempt = 0; ; attempt++) {
      try { return await f(); } catch (e) {
        if (e.message !== 'network error' || attempt >= 3) throw e;
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
  };

  // ---- upload ----
  const drop = document.getElementById('drop');
  const uploadOne = async (bucket, key, file, row) => {
    const bar = row.querySelector('progress'), pct = row.querySelector('.pct');
    const show = (done) => {
      const p = file.size ? Math.floor((done / file.size) * 100) : 100;
      bar.value = p; pct.textContent = `${p}%`;
      window.s3gateProgress.push(p);
    };
    const url = `/s3/${enc(bucket)}/${encKey(key)}`;
    const type = { 'content-type': file.type || 'application/octet-stream' };
    if (file.size <= PART) {
      await retrying(async () => ok(await request('PUT', url, file, type, show)));
      show(file.size);
      return;
    }
    // Multipart: the upload id is kept so that a retry after a failure resumes it.
    const memo = `s3gate-upload:${bucket}/${key}:${file.size}:${file.lastModified}`;
    let uploadId = localStorage.getItem(memo);
    const done = new Map();
    if (uploadId) {
      const r = await request('GET', `${url}?uploadId=${enc(uploadId)}`);
      if (r.status === 200) {
        for (const p of xml(r).querySelectorAll('Part')) {
          done.set(+p.querySelector('PartNumber').textContent,
                   { etag: p.querySelector('ETag').textContent, size: +p.querySelector('Size').textContent });
        }
      } else { uploadId = null; }
    }
    if (!uploadId) {
      const r = ok(await retrying(() => request('POST', `${url}?uploads`, '', type)));
      uploadId = xml(r).querySelector('UploadId').textContent;
      localStorage.setItem(memo, uploadId);
    }
    const count = Math.ceil(file.size / PART);
    let sent = 0;
    for (const [n, p] of done) if (n <= count) sent += p.size;
    show(sent);
    for (let n = 1; n <= count; n++) {
      const blob = file.slice((n - 1) * PART, Math.min(n * PART, file.size));
      if (done.has(n) && done.get(n).size === blob.size) continue;
      const base = sent;
      const r = await retrying(async () => ok(await request(
        'PUT', `${url}?partNumber=${n}&uploadId=${enc(uploadId)}`, blob, {}, (l) => show(base + l))));
      done.set(n, { etag: r.xhr.getResponseHeader('ETag'), size: blob.size });
      sent += blob.size;
      show(sent);
    }
    let body = '<CompleteMultipartUpload>';
    for (let n = 1; n <= count; n++) body += `<Part><PartNumber>${n}</PartNumber><ETag>${done.get(n).etag}</ETag></Part>`;
    body += '</CompleteMultipartUpload>';
    const r = ok(await retrying(() => request('POST', `${url}?uploadId=${enc(uploadId)}`, body, { 'content-type': 'application/xml' })));
    if (xml(r).querySelector('Error')) throw new Error(why(r));
    localStorage.removeItem(memo);
  };
  const uploadAll = async (items) => {
    const bucket = drop.dataset.bucket, prefix = drop.dataset.prefix;
    const list = document.getElementById('uploads');
    if (!items.length) return;
    let failed = 0;
    for (const { file, path } of items) {
      const key = prefix + path;
      const row = document.createElement('li');
      row.innerHTML = '<span class="name"></span><progress max="100" value="0"></progress><span class="pct">0%</span>';
      row.querySelector('.name').textContent = key;
      row.querySelector('progress').setAttribute('aria-label', `Uploading ${key}`);
      list.appendChild(row);
      try {
        say(`Uploading ${key}…`);
        await uploadOne(bucket, key, file, row);
      } catch (e) {
        failed++;
        row.querySelector('.pct').textContent = 'failed';
        say(`Upload of ${key} failed: ${e.message}. Drop it again to resume.`, true);
      }
    }
    if (!failed) {
      say('Upload complete.');
      const again = document.createElement('a');
      again.href = location.href; again.textContent = 'Show the new listing';
      status.append(' ', again);
    }
  };
  // Files of a drop, folders walked (their relative paths become key suffixes).
  const walk = (entry, path) => new Promise((resolve) => {
    if (entry.isFile) { entry.file((f) => resolve([{ file: f, path: path + f.name }]), () => resolve([])); return; }
    const reader = entry.createReader(), all = [];
    const more = () => reader.readEntries(async (batch) => {
      if (!batch.length) {
        const nested = await Promise.all(all.map((e) => walk(e, `${path}${entry.name}/`)));
        resolve(nested.flat());
        return;
      }
      all.push(...batch); more();
    }, () => resolve([]));
    more();
  });
  if (drop) {
    const input = document.getElementById('files');
    input.addEventListener('change', () => uploadAll([...input.files].map((f) => ({ file: f, path: f.name }))));
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', async (e) => {
      e.preventDefault(); drop.classList.remove('over');
      const entries = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
      const items = entries.length ? (await Promise.all(entries.map((en) => walk(en, '')))).flat()
        : [...e.dataTransfer.files].map((f) => ({ file: f, path: f.name }));
      uploadAll(items);
    });
    drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
  }

  // ---- delete, restore, buckets ----
  document.addEventListener('click', async (e) => {
    const t = e.target.closest('button');
    if (!t) return;
    try {
      if (t.dataset.delete !== undefined) {
        if (!confirm(`Delete ${t.dataset.delete}?`)) return;
        ok(await request('DELETE', `/s3/${enc(t.dataset.bucket)}/${encKey(t.dataset.delete)}`));
        say(`Deleted ${t.dataset.delete}.`);
        if (t.dataset.then) location.href = t.dataset.then; else t.closest('tr').remove();
      } else if (t.dataset.restore !== undefined) {
        const b = t.dataset.bucket, k = t.dataset.key, v = t.dataset.restore;
        ok(await request('PUT', `/s3/${enc(b)}/${encKey(k)}`, '',
          { 'x-amz-copy-source': `/${enc(b)}/${encKey(k)}?versionId=${enc(v)}` }));
        say(`Restored version ${v} as the latest.`);
        setTimeout(() => location.reload(), 400);
      } else if (t.id === 'delete-bucket') {
        if (!confirm(`Delete bucket ${t.dataset.bucket}? It must be empty.`)) return;
        ok(await request('DELETE', `/s3/${enc(t.dataset.bucket)}`));
        location.href = '/';
      }
    } catch (err) { say(err.message, true); }
  });
  const create = document.getElementById('create-bucket');
  if (create) create.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = create.elements.bucket.value.trim();
    try {
      ok(await request('PUT', `/s3/${enc(name)}`, ''));
      location.href = `/b/${enc(name)}`;
    } catch (err) { say(err.message, true); }
  });

  // ---- bucket settings: versioning ----
  document.addEventListener('click', async (e) => {
    const t = e.target.closest('button[data-versioning]');
    if (!t) return;
    const body = `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>${t.dataset.versioning}</Status></VersioningConfiguration>`;
    try {
      ok(await request('PUT', `/s3/${enc(t.dataset.bucket)}?versioning`, body, { 'content-type': 'application/xml' }));
      location.reload();
    } catch (err) { say(err.message, true); }
  });

  // ---- root: users, groups, policies through the admin API ----
  // A form or button with data-method and data-path: `{field}` in the path is the field's
  // value; the body is data-body, the field named by data-raw, or the fields of data-json.
  const admin = async (el, form) => {
    const fields = form ? Object.fromEntries(new FormData(form)) : {};
    const path = el.dataset.path.replace(/\{(\w+)\}/g, (_, f) => enc(fields[f] || ''));
    let body = el.dataset.body || '';
    if (el.dataset.raw) body = fields[el.dataset.raw];
    if (el.dataset.json) {
      const o = {};
      for (const f of el.dataset.json.split(',')) o[f] = f === 'policies' ? [fields[f]] : fields[f];
      body = JSON.stringify(o);
    }
    try {
      const r = ok(await request(el.dataset.method, path, body, { 'content-type': 'application/json' }));
      const j = r.text ? JSON.parse(r.text) : {};
      if (j.secret_access_key) {
        say(`Created. Access key id ${j.access_key_id}, secret ${j.secret_access_key} (shown only now: copy it).`);
        const again = document.createElement('a');
        again.href = location.href; again.textContent = 'Reload';
        status.append(' ', again);
      } else { location.reload(); }
    } catch (err) { say(err.message, true); }
  };
  document.addEventListener('submit', (e) => {
    const f = e.target;
    if (!f.dataset.path) return;
    e.preventDefault();
    admin(f, f);
  });
  document.addEventListener('click', (e) => {
    const t = e.target.closest('button[data-path]');
    if (!t || t.form) return;
    admin(t, null);
  });

  // ---- share ----
  const share = document.getElementById('share');
  if (share) share.addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = new URLSearchParams({ bucket: share.dataset.bucket, key: share.dataset.key, expires: share.elements.expires.value });
    try {
      const r = ok(await request('POST', '/share', form.toString(), { 'content-type': 'application/x-www-form-urlencoded' }));
      const out = document.getElementById('share-url');
      out.value = JSON.parse(r.text).url; out.hidden = false; out.focus(); out.select();
      say('Link created: anyone with it can download this object until it expires.');
    } catch (err) { say(err.message, true); }
  });
})();
