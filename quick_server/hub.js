  // -- one set of waiting connections per browser, whatever its tabs -----
  //
  // A browser opens at most six HTTP/1.1 connections to a host, across its
  // tabs. What waits in a page (the live-reload event stream, the
  // long-polls of running jobs) goes through one hub per browser instead,
  // which holds at most one event stream and one long-poll (the `poll`
  // action, for the jobs of every tab) per server (and set of extra
  // headers the jobs' requests carry): a SharedWorker running
  // this same script where the browser has one, else the tab elected with
  // the Web Locks API, which passes what it gets to the others over a
  // BroadcastChannel (when it closes, another tab takes over), else a hub
  // of each tab's own. Tabs tell the hub their whole state (the stream
  // they listen to, the jobs they watch) whenever it changes and every few
  // seconds; the hub forgets a tab it has not heard from for a while.

  const HUB_PATH = '/__quick_server__/worker.js';
  const HUB_NAME = 'quick_server-hub';
  const BEAT_MS = 5000;  // a tab's state, again
  // a tab not heard from is gone (a hidden tab's timers may fire but once a
  // minute; a tab that closed said bye already)
  const FORGET_MS = 180000;
  const STREAM_EVENTS = ['hello', 'reload', 'css'];

  function randomId() {
    return Math.random().toString(36).slice(2) + Date.now().toString(36);
  }

  /** Holds the shared connections; `send(to, message)` reaches the tab
   * with id `to`, or every tab when `to` is null. */
  class Hub {
    constructor(send, forget) {
      this.send = send;
      this.forget = forget || (() => {});
      this.tabs = new Map();  // id -> {live, watch: {token: {url, wait}}}
      this.stream = null;
      this.hello = null;  // the stream's last `hello`, for tabs that come
      // one poll per server and extra headers: group -> {key, serial, id}
      this.polls = new Map();
      this.ended = new Set();  // tokens whose final reply went out
      setInterval(() => this._expire(), BEAT_MS);
    }

    receive(msg) {
      if (!msg || typeof msg.id !== 'string') {
        return;
      }
      if (msg.type === 'bye') {
        this.tabs.delete(msg.id);
        this.forget(msg.id);
      } else if (msg.type === 'state') {
        const known = this.tabs.get(msg.id);
        this.tabs.set(msg.id, { live: msg.live, watch: msg.watch || {},
                                seen: Date.now() });
        if (msg.live && this.hello !== null &&
            !(known && known.live === msg.live)) {
          this.send(msg.id, { type: 'event', name: 'hello',
                              data: this.hello });
        }
      } else {
        return;
      }
      this._update();
    }

    _expire() {
      const now = Date.now();
      for (const [id, tab] of this.tabs) {
        if (now - tab.seen > FORGET_MS) {
          this.tabs.delete(id);
          this.forget(id);
        }
      }
      this._update();
    }

    _update() {
      this._updateStream();
      this._updatePolls();
    }

    _updateStream() {
      let url = null;
      for (const tab of this.tabs.values()) {
        url = url || tab.live || null;
      }
      if (this.stream && this.stream.url === url) {
        return;
      }
      if (this.stream) {
        this.stream.close();
        this.stream = null;
      }
      if (url) {
        this.stream = new EventSource(url);
        for (const name of STREAM_EVENTS) {
          this.stream.addEventListener(name, (event) => {
            if (name === 'hello') {
              this.hello = event.data;
            }
            this.send(null, { type: 'event', name, data: event.data });
          });
        }
      }
    }

    /** token -> {url, wait, headers, group, tab} of the jobs that tabs
     * watch; `group`: the poll that watches it (its server's origin and
     * the extra headers its requests carry). */
    _watched() {
      const watched = new Map();
      for (const [id, tab] of this.tabs) {
        for (const [token, job] of Object.entries(tab.watch)) {
          if (!this.ended.has(token)) {
            const headers = job.headers || {};
            const group = JSON.stringify([new URL(job.url).origin].concat(
              Object.entries(headers).sort()));
            watched.set(token, { url: job.url, wait: job.wait, headers,
                                 group, tab: id });
          }
        }
      }
      for (const token of this.ended) {
        if (!Array.from(this.tabs.values()).some((tab) => token in tab.watch)) {
          this.ended.delete(token);  // no tab lists it any more
        }
      }
      return watched;
    }

    _updatePolls() {
      const byGroup = new Map();
      for (const [token, job] of this._watched()) {
        byGroup.set(job.group, (byGroup.get(job.group) || []).concat([token]));
      }
      for (const group of new Set([...this.polls.keys(), ...byGroup.keys()])) {
        const key = (byGroup.get(group) || []).sort().join(' ');
        const poll = this.polls.get(group) ||
          { key: '', serial: 0, id: randomId() };
        if (poll.key !== key) {
          poll.key = key;
          poll.serial += 1;
          this.polls.set(group, poll);
          if (key) {
            this._poll(group, poll.serial);
          }
        }
      }
    }

    /** Long-polls the jobs of one server (with the same extra headers)
     * until what is watched there changes (a newer loop with the same
     * poll id supersedes this one). */
    async _poll(group, serial) {
      const poll = this.polls.get(group);
      for (let attempt = 0; poll.serial === serial;) {
        const jobs = Array.from(this._watched()).filter(
          ([, job]) => job.group === group);
        if (!jobs.length) {
          return;
        }
        const body = {
          action: 'poll', tokens: jobs.map(([token]) => token),
          wait: Math.min(...jobs.map(([, job]) => job.wait)),
          poll: poll.id,
        };
        let resp;
        let text;
        try {
          resp = await fetch(jobs[0][1].url, {
            method: 'POST',
            headers: Object.assign({ 'Content-Type': 'application/json' },
                                   jobs[0][1].headers),
            body: JSON.stringify(body),
          });
          text = await resp.text();
        } catch (err) {
          resp = null;
          text = err.message;
        }
        let kind = resp ? 'http' : 'network';
        if (resp && resp.ok) {
          const replies = pollReplies(text);
          if (replies) {
            attempt = 0;
            this._deliver(jobs, replies);
            this._updatePolls();  // without the jobs that ended
            continue;
          }
          kind = 'protocol';
        }
        const delay = POLL_RETRY_DELAYS[attempt];  // through a restart
        attempt += 1;
        if (delay === undefined || kind === 'protocol' ||
            (kind === 'http' && !TRANSIENT.includes(resp.status))) {
          for (const [token, job] of jobs) {  // every job there fails
            this.ended.add(token);
            this.send(job.tab, { type: 'failed', token, kind, text,
                                 status: resp ? resp.status : null });
          }
          return;
        }
        await sleep(delay);
      }
    }

    _deliver(jobs, replies) {
      for (const [token, job] of jobs) {
        const reply = replies[token];
        if (reply === undefined) {
          continue;
        }
        if (reply.status !== undefined || reply.done || !reply.continue) {
          this.ended.add(token);  // final: no longer polled
        }
        this.send(job.tab, { type: 'reply', token, reply });
      }
    }
  }

  function pollReplies(text) {
    try {
      const replies = JSON.parse(text).replies;
      return replies && typeof replies === 'object' ? replies : null;
    } catch (err) {
      return null;
    }
  }

  /** Runs the hub in a SharedWorker: every tab connects a port. */
  function serveHub(scope) {
    const ports = new Map();  // tab id -> its port
    const hub = new Hub((to, msg) => {
      const targets = to === null ? new Set(ports.values()) : [ports.get(to)];
      for (const port of targets) {
        if (port) {
          port.postMessage(Object.assign({ to }, msg));
        }
      }
    }, (id) => ports.delete(id));
    scope.addEventListener('connect', (event) => {
      const port = event.ports[0];
      port.addEventListener('message', (message) => {
        if (message.data && typeof message.data.id === 'string') {
          ports.set(message.data.id, port);
        }
        hub.receive(message.data);
      });
      port.start();
    });
  }

  /** A tab's side: its state, sent to whichever hub serves it, and the
   * messages the hub sends it. */
  class HubLink {
    constructor(hubUrl) {
      this.url = hubUrl;
      this.id = randomId();
      this.live = null;
      this.watch = new Map();
      this.listeners = new Set();
      // where this tab's hub runs: 'shared-worker', 'leader' (this tab),
      // 'follower' (another tab) or 'own' (a hub of its own)
      this.role = null;
      this._post = () => {};
      this._connect(hubUrl);
      setInterval(() => this._sendState(), BEAT_MS);
      addEventListener('pagehide', () => this._post({ type: 'bye', id: this.id }));
    }

    listen(fn) {
      this.listeners.add(fn);
      return () => this.listeners.delete(fn);
    }

    setLive(url) {
      this.live = url;
      this._sendState();
    }

    watchJob(token, url, wait, headers) {
      this.watch.set(token, { url, wait, headers: headers || {} });
      this._sendState();
    }

    unwatchJob(token) {
      if (this.watch.delete(token)) {
        this._sendState();
      }
    }

    _sendState() {
      this._post({ type: 'state', id: this.id, live: this.live,
                   watch: Object.fromEntries(this.watch) });
    }

    _receive(msg) {
      if (msg && (msg.to === null || msg.to === this.id)) {
        for (const fn of this.listeners) {
          notify(fn, msg);
        }
      }
    }

    _connect(hubUrl) {
      if (hubUrl && typeof SharedWorker === 'function') {
        try {
          const worker = new SharedWorker(hubUrl, { name: HUB_NAME });
          const port = worker.port;
          port.addEventListener('message', (event) => this._receive(event.data));
          port.start();
          this._post = (msg) => port.postMessage(msg);
          this.role = 'shared-worker';
          let failed = false;
          worker.addEventListener('error', () => {
            // its script did not load (not served here): a tab's hub
            if (!failed) {
              failed = true;
              port.close();
              this._elect();
            }
          });
          this._sendState();
          return;
        } catch (err) {
          // another origin's script, or no workers here: a tab's hub
        }
      }
      this._elect();
    }

    /** The hub in a tab: the one elected with a Web Lock, else its own. */
    _elect() {
      if (typeof BroadcastChannel !== 'function' ||
          typeof navigator === 'undefined' || !navigator.locks) {
        const hub = new Hub((to, msg) => this._receive(Object.assign({ to }, msg)));
        this._post = (msg) => hub.receive(msg);
        this.role = 'own';
        this._sendState();
        return;
      }
      const channel = new BroadcastChannel(HUB_NAME);
      let hub = null;
      channel.addEventListener('message', (event) => {
        const msg = event.data;
        if (msg && (msg.type === 'state' || msg.type === 'bye')) {
          if (hub) {
            hub.receive(msg);
          }
        } else if (msg && msg.type === 'hub') {
          this._sendState();  // a new hub: it learns what this tab wants
        } else {
          this._receive(msg);
        }
      });
      this._post = (msg) => (hub ? hub.receive(msg) : channel.postMessage(msg));
      this.role = 'follower';
      navigator.locks.request(HUB_NAME, () => {
        this.role = 'leader';
        hub = new Hub((to, msg) => {
          const message = Object.assign({ to }, msg);
          channel.postMessage(message);
          this._receive(message);
        });
        channel.postMessage({ type: 'hub' });
        this._sendState();
        return new Promise(() => {});  // held for as long as the tab lives
      });
      this._sendState();
    }
  }

  let hubLink = null;

  /** This page's link to its browser's hub (made on first use). */
  function linkToHub(base) {
    if (hubLink === null) {
      let url = null;
      try {
        url = new URL(HUB_PATH, base || location.href).href;
      } catch (err) {
        url = null;
      }
      // worker.js and live-reload.js each carry this file: the page's
      // first link serves both (two links would elect two hubs)
      const other = globalThis.quickServerHub;
      hubLink = other && other.url === url ? other : new HubLink(url);
      globalThis.quickServerHub = hubLink;  // for a look from the console
    }
    return hubLink;
  }

  const inSharedWorker = typeof SharedWorkerGlobalScope === 'function' &&
    globalThis instanceof SharedWorkerGlobalScope;
  if (inSharedWorker) {
    serveHub(globalThis);
  }
