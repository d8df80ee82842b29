  // -- live reload: a page reloads when a file it was served changes -----

  const LIVE_STREAM = '/__quick_server__/live-reload';
  const WAITING_ID = 'quick_server-reload-waiting';
  let reloadWaits = false;

  /** Reloads the page once the jobs it watches ended (pageJobs): a reload
   * would cancel them. Meanwhile a note in a corner says a reload waits. */
  function reloadWhenIdle() {
    const jobs = pageJobs();
    if (jobs.count <= 0) {
      location.reload();
      return;
    }
    if (reloadWaits) {
      return;
    }
    reloadWaits = true;
    const note = document.createElement('div');
    note.id = WAITING_ID;
    note.setAttribute('role', 'status');
    Object.assign(note.style, {
      position: 'fixed', right: '8px', bottom: '8px', zIndex: '2147483647',
      padding: '3px 8px', borderRadius: '4px', pointerEvents: 'none',
      font: '12px/1.4 sans-serif', color: '#fff', background: 'rgba(0,0,0,.7)',
    });
    const show = (n) => {
      const running = n === 1 ? '1 job' : `${n} jobs`;
      note.textContent = `reload waiting: ${running} running`;
    };
    show(jobs.count);
    (document.body || document.documentElement).appendChild(note);
    jobs.listeners.add(function update() {
      // after the callbacks of a job that ended (which may start another)
      setTimeout(() => {
        if (jobs.count > 0) {
          show(jobs.count);
          return;
        }
        jobs.listeners.delete(update);
        note.textContent = 'reloading';
        location.reload();
      });
    });
  }

  /** Swaps the stylesheets at `paths` (every one when none is named) for
   * fresh copies, without reloading the page. */
  function swapStylesheets(paths) {
    const links = Array.from(
      document.querySelectorAll('link[rel~="stylesheet"][href]'));
    if (!links.length) {
      reloadWhenIdle();
      return;
    }
    const named = links.filter(
      (link) => paths.includes(new URL(link.href).pathname));
    for (const link of named.length ? named : links) {
      const fresh = link.cloneNode();
      const href = new URL(link.href);
      href.searchParams.set('livereload', String(Date.now()));
      fresh.href = href.href;
      const done = () => link.remove();
      fresh.addEventListener('load', done);
      fresh.addEventListener('error', done);
      link.after(fresh);
    }
  }

  /**
   * Listens to the live-reload stream of the quick_server at `server`
   * (default: the server this script came from), through the browser's
   * hub: the page reloads when a served file changes or the server
   * restarts (once the jobs it watches ended: until then a note says a
   * reload waits), and swaps a changed stylesheet in place. Returns the
   * listener ({url, readyState: 1 once the stream said hello}), or null
   * when the page listens already.
   */
  function liveReload(server) {
    if (typeof document === 'undefined' || inSharedWorker ||
        globalThis.quickServerLiveReload) {
      return null;
    }
    const url = new URL(LIVE_STREAM, server || SCRIPT_BASE || location.href).href;
    const live = { url, readyState: 0, instance: null };
    globalThis.quickServerLiveReload = live;
    const link = linkToHub(SCRIPT_BASE);
    link.listen((msg) => {
      if (msg.type !== 'event') {
        return;
      }
      if (msg.name === 'hello') {
        if (live.instance !== null && live.instance !== msg.data) {
          reloadWhenIdle();  // a new server process
        }
        live.instance = msg.data;
        live.readyState = 1;
      } else if (msg.name === 'reload') {
        reloadWhenIdle();
      } else if (msg.name === 'css') {
        swapStylesheets(JSON.parse(msg.data));
      }
    });
    link.setLive(url);
    return live;
  }
