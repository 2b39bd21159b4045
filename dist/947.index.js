export const id = 947;
export const ids = [947];
export const modules = {

/***/ 3800:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  run: () => (/* binding */ run)
});

// UNUSED EXPORTS: execute

;// CONCATENATED MODULE: ./src/core/outcome.ts
/** A failure with what the summary should show about it. */
class ReleaseError extends Error {
    failure;
    result;
    infrastructure;
    name = 'ReleaseError';
    /** `result`: what the host is left with when the run fails after changing it on purpose (an automatic rollback), for outputs and the summary. */
    constructor(failure, result, 
    /** The failure is the infrastructure's (a lost connection, an API error), not the release's own: GitHub status `error`. */
    infrastructure = false) {
        super(failure.reason);
        this.failure = failure;
        this.result = result;
        this.infrastructure = infrastructure;
    }
}

// EXTERNAL MODULE: ./src/core/names.ts
var core_names = __webpack_require__(2483);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: ./src/core/image-ref.ts
var image_ref = __webpack_require__(3386);
;// CONCATENATED MODULE: ./src/engine/compose-project.ts
/**
 * What makes cutover's containers a compose project to Docker's tools: compose's own labels
 * (`docker compose -p <app>-blue ps` lists a color, `-p <app>` the shared services), the project's
 * own networks, and the hash of a service's own settings.
 */


const COMPOSE_LABEL = {
    project: 'com.docker.compose.project',
    service: 'com.docker.compose.service',
    oneoff: 'com.docker.compose.oneoff',
    number: 'com.docker.compose.container-number',
    network: 'com.docker.compose.network'
};
/** The compose project of a color (`<app>-<color>`), or of the shared services (`<app>`: they belong to no color). */
function composeProject(app, color) {
    return color ? `${app}-${color}` : app;
}
/**
 * A color's own network, as compose names a project's default one: the color's services find
 * each other there by their service names (`helper` from blue's web is blue's helper).
 */
function colorNetwork(app, color) {
    return `${composeProject(app, color)}_default`;
}
/** Compose's labels for one container of a service (`number`: the replica, 1 for a single container). */
function composeLabels(app, color, service, number = 1) {
    return {
        [COMPOSE_LABEL.project]: composeProject(app, color),
        [COMPOSE_LABEL.service]: service,
        [COMPOSE_LABEL.oneoff]: 'False',
        [COMPOSE_LABEL.number]: String(number)
    };
}
/**
 * A hash of a service's own settings (a compose worker's), recorded with its release: what a
 * rollback compares with the settings it has now. Env values only enter it hashed.
 */
function serviceSettingsHash(settings) {
    const sorted = (o) => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const canonical = JSON.stringify({
        env: sorted(settings.env),
        command: settings.command ?? null,
        volumes: settings.volumes,
        networks: settings.networks,
        labels: sorted(settings.labels),
        memory: settings.memoryBytes ?? null,
        cpus: settings.nanoCpus ?? null,
        healthcheck: settings.healthcheck ?? null
    });
    return (0,external_node_crypto_.createHash)('sha256').update(canonical).digest('hex').slice(0, 16);
}
/** Networks the app's containers join that must already exist on the host (the compose project's own are created). */
function externalNetworks(config) {
    const own = new Set(config.compose?.networks ?? []);
    const all = [
        ...config.container.networks,
        ...(config.roles?.workers ?? []).flatMap(w => w.settings?.networks ?? []),
        ...(config.shared ?? []).flatMap(s => s.networks)
    ];
    return [...new Set(all)].filter(n => !own.has(n));
}
/**
 * Creates the compose project's networks, labelled with the app: the file's own (`<app>_<name>`)
 * and each color's default one (`<app>-<color>_default`).
 */
async function ensureComposeNetworks(host, config) {
    if (!config.container.composeService)
        return;
    const labels = (project, network) => ({
        [core_names/* LABEL */.d_.managed]: 'true',
        [core_names/* LABEL */.d_.app]: config.app,
        [COMPOSE_LABEL.project]: project,
        [COMPOSE_LABEL.network]: network
    });
    for (const name of config.compose?.networks ?? [])
        await host.ensureNetwork(name, labels(config.app, name.slice(config.app.length + 1)));
    for (const color of core_names/* COLORS */.lm)
        await host.ensureNetwork(colorNetwork(config.app, color), labels(composeProject(config.app, color), 'default'));
}

;// CONCATENATED MODULE: ./src/engine/container-spec.ts




/**
 * A hash of everything in the settings that changes the container, so redeploying the same image
 * with a rotated secret or a new volume is a new release, not "unchanged". Secret values only
 * enter it hashed.
 */
function configHash(settings, appPort) {
    const canonical = JSON.stringify({
        env: Object.entries(settings.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        command: settings.command ?? null,
        volumes: settings.volumes,
        networks: settings.networks,
        labels: Object.entries(settings.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        restart: settings.restart,
        memory: settings.memoryBytes ?? null,
        cpus: settings.nanoCpus ?? null,
        appPort,
        // Only when set, so the hashes of apps without one do not change.
        ...(settings.healthcheck ? { healthcheck: settings.healthcheck } : {})
    });
    return (0,external_node_crypto_.createHash)('sha256').update(canonical).digest('hex').slice(0, 16);
}
/** One color of the app as the host should start it: what `docker run` users expect, plus cutover's labels. */
function containerSpec(input) {
    const { app, color, image, network, settings } = input;
    return {
        name: (0,core_names/* containerName */.xN)(app, color, input.replica),
        image,
        env: settings.env,
        command: settings.command,
        labels: {
            ...settings.labels,
            // compose-file: `docker compose -p <app>-<color> ps` lists the color.
            ...(settings.composeService ? composeLabels(app, color, settings.composeService, input.replica ?? 1) : {}),
            [core_names/* LABEL */.d_.managed]: 'true',
            [core_names/* LABEL */.d_.app]: app,
            [core_names/* LABEL */.d_.color]: color,
            [core_names/* LABEL */.d_.image]: image,
            [core_names/* LABEL */.d_.version]: (0,image_ref/* versionOf */.E4)(image),
            [core_names/* LABEL */.d_.deployedAt]: input.startedAt,
            [core_names/* LABEL */.d_.run]: input.run,
            [core_names/* LABEL */.d_.release]: input.releaseId,
            [core_names/* LABEL */.d_.configHash]: input.hash ?? configHash(settings, input.appPort)
        },
        network,
        // compose-file: each color is a project with its own default network, where its services are found by their names.
        extraNetworks: settings.composeService ? [...settings.networks, colorNetwork(app, color)] : settings.networks,
        ...(settings.composeService ? { networkAliases: { [colorNetwork(app, color)]: [settings.composeService] } } : {}),
        volumes: settings.volumes,
        memoryBytes: settings.memoryBytes,
        nanoCpus: settings.nanoCpus,
        healthcheck: settings.healthcheck
    };
}

;// CONCATENATED MODULE: ./src/engine/drain.ts
/** How often the proxy is asked how many of the app's requests it still holds. */
const IN_FLIGHT_POLL_MS = 200;
/**
 * The app's route is off the proxy: waits while the proxy still holds requests to it (`inFlight`
 * counts them now), asking every 200 ms, at most drain-timeout. The log says how long it waited
 * and whether requests were still in flight at the timeout. A proxy that stops answering the
 * count makes the rest of drain-timeout a plain wait (its requests may still be running).
 */
async function drainInFlight(ctx, inFlight) {
    const { clock, log, config, app } = ctx;
    const timeoutMs = config.proxy.drainTimeoutMs;
    const started = clock.now();
    const elapsed = () => clock.now() - started;
    let left;
    let asked = 0;
    for (;;) {
        asked++;
        try {
            left = await inFlight();
        }
        catch (e) {
            const rest = Math.max(0, timeoutMs - elapsed());
            log.warning(`The proxy could not say how many requests to ${app} are in flight (${e.message}): waiting the ${Math.ceil(rest / 1000)} s left of drain-timeout`);
            await clock.sleep(rest);
            return { ms: elapsed(), left: undefined, waited: true };
        }
        if (left === 0 || elapsed() >= timeoutMs)
            break;
        await clock.sleep(Math.min(IN_FLIGHT_POLL_MS, timeoutMs - elapsed()));
    }
    const ms = elapsed();
    if (left === 0 && asked === 1)
        log.info(`No request to ${app} was in flight: nothing to wait for`);
    else if (left === 0)
        log.info(`The requests in flight to ${app} finished: waited ${ms} ms (drain-timeout ${timeoutMs / 1000} s)`);
    else
        log.warning(`${left} request(s) to ${app} still in flight after ${ms / 1000} s (drain-timeout): its containers stop now all the same`);
    return { ms, left, waited: asked > 1 };
}
/** Routers that cannot count requests in flight: the whole drain-timeout, said. */
async function drainTimed(ctx) {
    const { clock, log, config, app } = ctx;
    const ms = config.proxy.drainTimeoutMs;
    log.info(`Letting requests in flight to ${app} finish: ${ms / 1000} s (drain-timeout; the proxy cannot count them) before its containers stop`);
    await clock.sleep(ms);
    return { ms, left: undefined, waited: true };
}
/** The drain as the step's detail says it. */
function describeDrain(drain) {
    if (!drain)
        return '';
    if (drain.left === undefined)
        return `waited ${drain.ms / 1000} s (drain-timeout)`;
    if (drain.left === 0)
        return drain.waited ? `requests in flight finished in ${drain.ms} ms` : 'no request in flight';
    return `${drain.left} request(s) still in flight at drain-timeout`;
}
/** Whether the router vouches that `color` takes no new request and holds none of its requests (false: it holds some, or cannot say). */
async function colorIdle(ctx, color) {
    if (!ctx.router.idleColors)
        return false;
    return ctx.router.idleColors().then(idle => idle.includes(color), () => false);
}
/**
 * Waits up to `timeoutMs` for the connections `color` still holds: a plain wait, cut short once the
 * router vouches that it holds none (asked every 200 ms; routers that cannot say wait it all).
 * Returns the ms waited and whether that was less than all of it.
 */
async function drainColor(ctx, color, timeoutMs) {
    const { clock } = ctx;
    // sticky: its clients keep coming to the draining color until the drain ends; nothing to ask.
    if (!ctx.router.idleColors || ctx.config.proxy.sticky) {
        await clock.sleep(timeoutMs);
        return { ms: timeoutMs, early: false };
    }
    const started = clock.now();
    for (;;) {
        const elapsed = clock.now() - started;
        if (elapsed >= timeoutMs)
            return { ms: elapsed, early: false };
        if (await colorIdle(ctx, color))
            return { ms: elapsed, early: true };
        await clock.sleep(Math.min(IN_FLIGHT_POLL_MS, timeoutMs - elapsed));
    }
}

;// CONCATENATED MODULE: ./src/engine/describe.ts
/** One line for an HTTP answer (or the lack of one), for logs and failure messages. */
function describeAnswer(r) {
    if (r.status === undefined)
        return `no HTTP answer (${r.error ?? 'unknown error'})`;
    const body = r.body.trim().replace(/\s+/g, ' ').slice(0, 120);
    return `HTTP ${r.status}${body ? `: "${body}"` : ''}`;
}

;// CONCATENATED MODULE: ./src/engine/health.ts

/** A probe never waits longer than this, whatever health-timeout is. */
const PROBE_TIMEOUT_MS = 5000;
/** The pause after a refused probe: how late, at most, the gate sees an app that has just started listening. */
const REFUSED_PAUSE_MS = 25;
function statusOk(settings, status) {
    if (status === undefined)
        return false;
    return settings.expectedStatus !== undefined ? status === settings.expectedStatus : status >= 200 && status < 300;
}
/**
 * Healthy = still running and never restarted, Docker's HEALTHCHECK says healthy when the
 * image has one, and `passes` consecutive HTTP probes of the health path answer as expected.
 * Probes go from the host to the container's address. The whole gate, probes included, ends
 * by health-timeout.
 */
async function waitHealthy(deps) {
    const { host, name, network, settings, log, clock } = deps;
    const started = clock.now();
    const elapsed = () => clock.now() - started;
    const left = () => settings.timeoutMs - elapsed();
    const expect = settings.expectedStatus ? `HTTP ${settings.expectedStatus}` : 'a 2xx answer';
    let consecutive = 0;
    let probes = 0;
    let last;
    let lastDockerHealth = '';
    for (;;) {
        const abort = deps.aborted?.();
        if (abort)
            return { healthy: false, reason: abort, ms: elapsed() };
        const info = await host.inspect(name);
        if (!info)
            return { healthy: false, reason: 'the container disappeared before it became healthy', ms: elapsed() };
        if (info.status === 'exited' || info.status === 'dead') {
            return {
                healthy: false,
                reason: `the container exited with code ${info.exitCode}${info.oomKilled ? ' (killed for running out of memory)' : ''} before it became healthy`,
                exitCode: info.exitCode,
                oomKilled: info.oomKilled,
                ms: elapsed()
            };
        }
        if (info.restarting || info.restartCount > 0) {
            return {
                healthy: false,
                reason: `the container restarted (last exit code ${info.exitCode}${info.oomKilled ? ', out of memory' : ''}) before it became healthy`,
                exitCode: info.exitCode,
                oomKilled: info.oomKilled,
                ms: elapsed()
            };
        }
        const dockerHealth = info.health?.status;
        if (dockerHealth === 'unhealthy') {
            return {
                healthy: false,
                reason: `Docker's HEALTHCHECK reports unhealthy (last check exited ${info.health?.lastExitCode}: ${(info.health?.lastOutput ?? '').trim().slice(0, 200)})`,
                ms: elapsed()
            };
        }
        if (dockerHealth && dockerHealth !== lastDockerHealth) {
            log.info(`Docker HEALTHCHECK: ${dockerHealth}`);
            lastDockerHealth = dockerHealth;
        }
        const address = info.addresses[network];
        let refused = false;
        if (address && left() > 0) {
            last = await host.probe(address, settings.port, settings.path, Math.max(1, Math.min(PROBE_TIMEOUT_MS, left())));
            probes++;
            refused = last.status === undefined;
            if (statusOk(settings, last.status))
                consecutive++;
            else
                consecutive = 0;
            if (probes === 1 || !refused)
                log.info(`probe ${probes} of ${settings.path}: ${describeAnswer(last)} (${consecutive}/${settings.passes})`);
        }
        const dockerOk = dockerHealth === undefined || dockerHealth === 'healthy';
        if (consecutive >= settings.passes && dockerOk)
            return { healthy: true, ms: elapsed(), probes };
        if (left() <= 0) {
            const what = !dockerOk
                ? `Docker's HEALTHCHECK still reports "${dockerHealth}"`
                : `${settings.path} on port ${settings.port} did not give ${expect}${settings.passes > 1 ? ` ${settings.passes} times in a row` : ''}`;
            return {
                healthy: false,
                reason: `${what} within ${Math.round(settings.timeoutMs / 1000)} s (health-timeout); last answer: ${last ? describeAnswer(last) : 'none (no address on the network)'}`,
                ms: elapsed()
            };
        }
        // While the app is not listening yet, look again soon: boot time is what users wait for, and a
        // refused probe costs the host little (an inspect and a connection refused on its bridge).
        const pause = refused && consecutive === 0 ? Math.min(REFUSED_PAUSE_MS, settings.intervalMs) : settings.intervalMs;
        await clock.sleep(Math.max(0, Math.min(pause, left())));
    }
}

;// CONCATENATED MODULE: ./src/engine/replicas.ts

const ASIDE_SUFFIX = '-replaced';
/** 1..n */
function oneTo(n) {
    return Array.from({ length: n }, (_, i) => i + 1);
}
/**
 * The replica numbers of a color on the host: its containers, and those set aside while their
 * replacements boot (`-replaced`). Found by name among the app's labelled containers, so replicas
 * left over from a larger earlier size are found too.
 */
async function replicasOnHost(host, app, color) {
    return replicasAmong(await host.listApp(app), app, color);
}
/** As replicasOnHost, from a listing of the app's containers already read. */
function replicasAmong(containers, app, color) {
    const names = containers.map(c => c.name);
    const numbers = (list) => list
        .map(n => (0,core_names/* replicaOf */.ko)(app, color, n))
        .filter((n) => n !== undefined)
        .sort((a, b) => a - b);
    return {
        serving: numbers(names),
        aside: numbers(names.filter(n => n.endsWith(ASIDE_SUFFIX)).map(n => n.slice(0, -ASIDE_SUFFIX.length)))
    };
}
/** The union of number lists, sorted. */
function union(...lists) {
    return [...new Set(lists.flat())].sort((a, b) => a - b);
}

;// CONCATENATED MODULE: ./src/core/log.ts
/** Where an adapter's progress lines go: the log's progress line where it has one, else plain lines. */
function progressOf(log) {
    return line => (log.progress ? log.progress(line) : log.info(line));
}
/** `[=========>          ] 45%` for done of total (total > 0). */
function progressBar(done, total, width = 20) {
    const share = Math.max(0, Math.min(1, done / total));
    const full = Math.floor(share * width);
    return `[${'='.repeat(Math.max(0, full - 1))}${full > 0 ? (full === width ? '=' : '>') : ''}${' '.repeat(width - full)}] ${Math.floor(share * 100)}%`;
}

;// CONCATENATED MODULE: ./src/engine/workers.ts
/**
 * Worker roles: containers of the release's image with their own command, the web role's env,
 * volumes and networks, no route and no HTTP probe. One set per color, like the web role:
 * `<app>-<color>-worker-<name>`, labelled with the app, color, role and release.
 */






const NO_ROLES = { web: true, workers: [], minUptimeMs: 10_000, stopTimeoutMs: 30_000, handover: 'stop-first' };
/** The release's settings hash, with the roles in it when there are any (so adding a worker is a new release). */
function releaseHash(base, roles) {
    if (roles.web && !roles.workers.length)
        return base;
    const canonical = JSON.stringify({
        base,
        web: roles.web,
        // A compose worker's own image, settings and order enter only when it has them, so other hashes stay as they were.
        workers: roles.workers.map(w => {
            const r = recordOf(w);
            return r.image || r.settingsHash || r.dependsOn ? [w.name, w.command, r.image ?? null, r.settingsHash ?? null, r.dependsOn ?? null] : [w.name, w.command];
        })
    });
    return (0,external_node_crypto_.createHash)('sha256').update(canonical).digest('hex').slice(0, 16);
}
/** What the ledger keeps of a worker role: its own settings only as a hash. */
function recordOf(w) {
    return {
        name: w.name,
        command: w.command,
        ...(w.image ? { image: w.image } : {}),
        ...(w.settings ? { settingsHash: serviceSettingsHash(w.settings) } : {}),
        ...(w.dependsOn?.length ? { dependsOn: w.dependsOn } : {})
    };
}
/** Which workers a release runs: a rollback brings back what its release recorded, a deploy what the inputs say. */
function workersFor(plan, roles) {
    if (plan.restores)
        return plan.restores.workers ?? [];
    return roles.workers.map(recordOf);
}
/** How often a starting worker is looked at. */
const POLL_MS = 500;
class Workers {
    deps;
    /** The workers' own images (compose services of another image) as pulled by this run. */
    pulled = new Map();
    constructor(deps) {
        this.deps = deps;
    }
    get app() {
        return this.deps.config.app;
    }
    get roles() {
        return this.deps.config.roles ?? NO_ROLES;
    }
    /** The app's worker containers on the host (among `listed`, the app's containers already read, when given). */
    async found(listed) {
        const all = listed ?? (await this.deps.host.listApp(this.app));
        const out = [];
        for (const c of all) {
            const color = c.labels[core_names/* LABEL */.d_.color];
            const worker = c.labels[core_names/* LABEL */.d_.worker];
            if (c.labels[core_names/* LABEL */.d_.role] !== 'worker' || !worker || (color !== 'blue' && color !== 'green'))
                continue;
            const aside = c.name === (0,core_names/* workerAsideName */.gm)(this.app, color, worker);
            if (!aside && c.name !== (0,core_names/* workerName */.ig)(this.app, color, worker))
                continue;
            out.push({ name: c.name, color, worker, aside, running: c.state === 'running' || c.state === 'restarting', release: c.labels[core_names/* LABEL */.d_.release] });
        }
        return out;
    }
    /** For an app without a web role, a color's state is its workers': it "exists" for a release when all its workers are there. */
    async colorState(color, releases) {
        const mine = (await this.found()).filter(w => w.color === color && !w.aside);
        const release = mine[0]?.release;
        const of = releases.find(r => r.instance === release && r.color === color);
        const complete = !!of && (of.workers ?? []).every(w => mine.some(m => m.worker === w.name && m.release === release));
        return { color, exists: mine.length > 0 && complete, running: mine.length > 0 && mine.every(m => m.running), image: of?.image, releaseId: release };
    }
    /**
     * Workers of the color that is not live must not run (previous workers are stopped after each
     * release): a run that died between starting new workers and finishing leaves some running.
     */
    async stopStray(live, listed) {
        const stray = (await this.found(listed)).filter(w => w.running && (w.aside || w.color !== live?.color));
        await Promise.all(stray.map(async (w) => {
            this.deps.log.info(`Stopping ${w.name}, a worker of a color that is not live (left running by an interrupted run)`);
            await this.stopOne(w.name);
        }));
    }
    /** As for the web role: a set-aside worker whose color went live is obsolete; otherwise it is put back. Whether any was found. */
    async recoverAside(live, listed) {
        const aside = (await this.found(listed)).filter(x => x.aside);
        for (const w of aside) {
            if (live?.color === w.color) {
                await this.deps.host.remove(w.name);
            }
            else {
                await this.deps.host.remove((0,core_names/* workerName */.ig)(this.app, w.color, w.worker));
                await this.deps.host.rename(w.name, (0,core_names/* workerName */.ig)(this.app, w.color, w.worker));
            }
        }
        return aside.length > 0;
    }
    /**
     * Starts the release's workers on its color and waits until each is healthy: its Docker
     * HEALTHCHECK says healthy, or, without one, it is still running after worker-min-uptime.
     * Throws ReleaseError naming the first worker that failed; the caller undoes with `undo`.
     */
    async startAndGate(plan, release, workers, stillLive) {
        const { host, log, clock } = this.deps;
        if (!workers.length)
            return;
        if (plan.kind === 'start-new')
            await this.setAside(plan.color);
        const existing = plan.kind === 'reuse-standby' ? await this.found() : [];
        // Each gate counts from its own worker's start; a worker starts once those it depends on are
        // started (in order) or healthy (their gates awaited first). Gates begin once a wave is started.
        const gates = new Map();
        const ungated = [];
        const gateStarted = () => {
            for (const u of ungated.splice(0)) {
                const gate = this.gate(u.name, u.at);
                gate.catch(() => undefined); // awaited below; this only keeps a failure while others start from going unhandled
                gates.set(u.worker, gate);
            }
        };
        for (const w of workers) {
            const name = (0,core_names/* workerName */.ig)(this.app, plan.color, w.name);
            const waitFor = (w.dependsOn ?? []).filter(d => d.condition === 'service_healthy' && workers.some(x => x.name === d.service));
            if (waitFor.length) {
                gateStarted();
                log.info(`${name} waits for ${waitFor.map(d => d.service).join(', ')} to be healthy (depends_on)`);
                const before = await Promise.all(waitFor.map(d => gates.get(d.service)).filter(g => g !== undefined));
                if (before.some(o => o.failure))
                    break;
            }
            const mine = existing.find(e => e.worker === w.name && e.color === plan.color && !e.aside && e.release === release.instance);
            if (!mine) {
                // A rollback whose worker is gone (or was added later) starts it again from the release's image (or its own).
                if (plan.kind === 'reuse-standby')
                    await host.remove(name);
                const image = w.image ?? plan.image;
                if (w.image)
                    await this.ensureImage(w.image);
                await host.create(this.spec(plan.color, image, release, w));
            }
            await host.start(name);
            log.info(`Started ${name}${mine ? ' (the stopped standby)' : ''}${w.image ? ` (${w.image})` : ''}: ${w.command.length ? w.command.join(' ') : "the image's command"}`);
            ungated.push({ worker: w.name, name, at: clock.now() });
        }
        gateStarted();
        const outcomes = await Promise.all(gates.values());
        const failed = outcomes.find(o => o.failure);
        if (failed?.failure) {
            const logs = await host.logs(failed.name, 30).catch(e => `(logs unavailable: ${e.message})`);
            const of = workers.find(w => (0,core_names/* workerName */.ig)(this.app, plan.color, w.name) === failed.name);
            throw new ReleaseError({
                reason: `The worker ${failed.name} (${of?.image ?? plan.image}) did not become healthy: ${failed.failure.reason}. ${stillLive}`,
                logs,
                container: failed.name,
                exitCode: failed.failure.exitCode,
                oomKilled: failed.failure.oomKilled
            });
        }
        const restart = this.deps.config.container.restart;
        if (restart.Name !== 'no')
            await Promise.all(workers.map(w => host.setRestartPolicy((0,core_names/* workerName */.ig)(this.app, plan.color, w.name), restart)));
        log.info(`${workers.length} worker(s) healthy on ${plan.color}: ${workers.map(w => w.name).join(', ')}`);
    }
    /**
     * The worker's settings: its own (a compose service's), else the web role's. A rollback that
     * starts a gone worker again uses what the inputs say now for its name, and says so when that is
     * not what its release had (the ledger keeps only a hash of them).
     */
    settingsOf(w) {
        const { config, log } = this.deps;
        const role = this.roles.workers.find(r => r.name === w.name);
        const own = role?.settings;
        const now = own ? serviceSettingsHash(own) : undefined;
        if (now !== w.settingsHash) {
            log.warning(`The worker ${w.name} is started again with the settings the inputs give it now, which are not those its release was deployed with`);
        }
        const settings = own ? { ...own, restart: config.container.restart } : config.container;
        // compose-file: each worker is its own compose service.
        return config.container.composeService ? { ...settings, composeService: w.name } : settings;
    }
    /** Pulls the workers' own images (compose services of another image) for a deploy, before anything starts. */
    async pullImages(workers) {
        for (const ref of new Set(workers.flatMap(w => (w.image ? [w.image] : [])))) {
            if (this.pulled.has(ref))
                continue;
            try {
                this.pulled.set(ref, await this.deps.host.pull(ref, progressOf(this.deps.log)));
            }
            catch (e) {
                throw new ReleaseError({ reason: `Pulling ${ref}, the image of a worker, failed: ${e.message}. Nothing was switched.` });
            }
        }
    }
    /** A worker's own image on the host: as pulled by this run, else the local copy (a rollback), else pulled now. */
    async ensureImage(ref) {
        if (this.pulled.has(ref) || (await this.deps.host.image(ref)))
            return;
        await this.pullImages([{ name: '', command: [], image: ref }]);
    }
    spec(color, image, release, w) {
        const { network, run, clock } = this.deps;
        const settings = this.settingsOf(w);
        const base = containerSpec({
            app: this.app,
            color,
            image,
            network,
            settings,
            appPort: this.deps.config.health.port,
            releaseId: release.instance,
            startedAt: new Date(clock.now()).toISOString(),
            run,
            hash: release.configHash
        });
        return {
            ...base,
            name: (0,core_names/* workerName */.ig)(this.app, color, w.name),
            // Empty: the image's own command (a worker of its own image).
            command: w.command.length ? w.command : undefined,
            labels: { ...base.labels, [core_names/* LABEL */.d_.role]: 'worker', [core_names/* LABEL */.d_.worker]: w.name }
        };
    }
    async gate(name, started) {
        const { host, clock, config } = this.deps;
        const minUptime = this.roles.minUptimeMs;
        // With a HEALTHCHECK, the verdict may take as long as the web role's health-timeout allows.
        const deadline = started + Math.max(config.health.timeoutMs, minUptime);
        let lastHealth = '';
        for (;;) {
            const abort = this.deps.aborted();
            if (abort)
                return { name, failure: { reason: abort } };
            const info = await host.inspect(name);
            if (!info)
                return { name, failure: { reason: 'the container disappeared' } };
            const oom = info.oomKilled ? ' (killed for running out of memory)' : '';
            if (info.status === 'exited' || info.status === 'dead') {
                return {
                    name,
                    failure: {
                        reason: `it exited with code ${info.exitCode}${oom} within ${Math.round((clock.now() - started) / 1000)} s`,
                        exitCode: info.exitCode,
                        oomKilled: info.oomKilled
                    }
                };
            }
            if (info.restarting || info.restartCount > 0) {
                return { name, failure: { reason: `it restarted (last exit code ${info.exitCode}${oom})`, exitCode: info.exitCode, oomKilled: info.oomKilled } };
            }
            const health = info.health?.status;
            if (health === 'unhealthy') {
                return {
                    name,
                    failure: {
                        reason: `Docker's HEALTHCHECK reports unhealthy (last check exited ${info.health?.lastExitCode}: ${(info.health?.lastOutput ?? '').trim().slice(0, 200)})`
                    }
                };
            }
            if (health && health !== lastHealth) {
                this.deps.log.info(`${name}: Docker HEALTHCHECK ${health}`);
                lastHealth = health;
            }
            if (health === 'healthy')
                return { name };
            if (!health && clock.now() - started >= minUptime)
                return { name };
            if (clock.now() >= deadline) {
                return {
                    name,
                    failure: { reason: `Docker's HEALTHCHECK still reports "${health}" after ${Math.round((clock.now() - started) / 1000)} s (health-timeout)` }
                };
            }
            const until = health ? deadline : started + minUptime;
            await clock.sleep(Math.max(1, Math.min(POLL_MS, until - clock.now())));
        }
    }
    /** Moves the color's old workers (the standby's, stopped) out of the way of the new ones. */
    async setAside(color) {
        const { host } = this.deps;
        for (const w of (await this.found()).filter(x => x.color === color && !x.aside)) {
            await host.remove((0,core_names/* workerAsideName */.gm)(this.app, color, w.worker));
            await host.rename(w.name, (0,core_names/* workerAsideName */.gm)(this.app, color, w.worker));
        }
    }
    /** After a failed release: the new workers gone (a reused standby's stopped again), the set-aside ones back. */
    async undo(plan, workers) {
        const { host, log } = this.deps;
        const found = await this.found();
        for (const w of found.filter(x => x.color === plan.color && !x.aside)) {
            if (plan.kind === 'reuse-standby' && w.release === plan.restores.instance) {
                await this.stopOne(w.name);
            }
            else if (plan.kind === 'start-new' || workers.some(x => x.name === w.worker)) {
                if (this.deps.config.keepFailed) {
                    // Kept stopped for inspection, under a name the next runs do not take for a worker.
                    await this.stopOne(w.name);
                    await host.remove(`${w.name}-failed`);
                    await host.rename(w.name, `${w.name}-failed`);
                    log.info(`Stopped the new worker and kept it as ${w.name}-failed for inspection (keep-failed)`);
                }
                else {
                    await host.remove(w.name);
                    log.info(`Removed the new worker ${w.name}`);
                }
            }
        }
        for (const w of found.filter(x => x.color === plan.color && x.aside)) {
            await host.remove((0,core_names/* workerName */.ig)(this.app, w.color, w.worker));
            await host.rename(w.name, (0,core_names/* workerName */.ig)(this.app, w.color, w.worker));
        }
    }
    /**
     * worker-handover stop-first: the running workers of the live color stop (SIGTERM, finishing
     * their job within worker-stop-timeout) before the new color's start, so no two versions consume
     * at once. Returns the names stopped: `resume` starts them again if the release fails.
     */
    async stopBeforeHandover(liveColor, newColor) {
        const { log, clock } = this.deps;
        if (liveColor === newColor)
            return [];
        const running = (await this.found()).filter(w => w.color === liveColor && !w.aside && w.running);
        await Promise.all(running.map(async (w) => {
            const started = clock.now();
            await this.stopOne(w.name);
            log.info(`Stopped the live worker ${w.name} before its replacement starts (${clock.now() - started} ms; worker-handover stop-first)`);
        }));
        return running.map(w => w.name);
    }
    /** After a failed release: the workers stopped for the hand-over run again, with their restart policy back. */
    async resume(names) {
        const { host, log, config } = this.deps;
        for (const name of names) {
            await host.start(name);
            if (config.container.restart.Name !== 'no')
                await host.setRestartPolicy(name, config.container.restart);
            log.info(`Started ${name} again (the release failed before the switch)`);
        }
    }
    /** Stops a worker for good: no restart policy brings it back, SIGTERM first so its job finishes. */
    async stopOne(name) {
        const { host } = this.deps;
        await host.setRestartPolicy(name, { Name: 'no' }).catch(() => undefined);
        await host.stop(name, Math.ceil(this.roles.stopTimeoutMs / 1000));
    }
    /**
     * After the switch: the workers of the color that served before stop (SIGTERM, then SIGKILL after
     * worker-stop-timeout), and are removed if keep-previous says so; the set-aside workers of the
     * new color (an older release's) are removed.
     */
    async retire(previous, liveColor) {
        const { host, log, config } = this.deps;
        const found = await this.found();
        const replaced = found.filter(w => w.color === liveColor && w.aside);
        const old = previous && previous !== liveColor ? found.filter(w => w.color === previous && !w.aside) : [];
        await Promise.all([
            ...old.map(async (w) => {
                // Stopped already by a stop-first hand-over.
                if (w.running) {
                    const started = this.deps.clock.now();
                    await this.stopOne(w.name);
                    log.info(`Stopped the previous worker ${w.name} (${this.deps.clock.now() - started} ms; worker-stop-timeout ${this.roles.stopTimeoutMs / 1000} s)`);
                }
                if (config.keepPrevious === 'removed')
                    await host.remove(w.name);
            }),
            ...replaced.map(w => host.remove(w.name))
        ]);
    }
    /** The workers of the live color as they are now, for outputs and the summary. */
    async states(color) {
        const out = [];
        for (const w of (await this.found()).filter(x => x.color === color && !x.aside).sort((a, b) => (a.worker < b.worker ? -1 : 1))) {
            out.push({ name: w.worker, container: w.name, state: w.running ? 'running' : 'stopped' });
        }
        return out;
    }
    /** Whether every worker of the release runs the image with these settings (a deploy of the same then changes nothing). */
    async allLive(color, imageId, hash, workers) {
        for (const w of workers) {
            const info = await this.deps.host.inspect((0,core_names/* workerName */.ig)(this.app, color, w.name));
            // A worker of its own image is compared with that image as this run pulled it (pullImages).
            const expected = w.image ? this.pulled.get(w.image)?.id : imageId;
            if (!info?.running || info.restarting || info.imageId !== expected || info.labels[core_names/* LABEL */.d_.configHash] !== hash)
                return false;
        }
        return true;
    }
}

;// CONCATENATED MODULE: ./src/engine/ownership.ts

/**
 * Why a container found under one of the app's names is not cutover's to touch, or undefined when
 * it is. Names can be taken by anything (an older hand-made deploy called `<app>-blue`); only
 * cutover's labels for this app make a container ours to set aside, rename or remove.
 */
function foreignContainerProblem(app, name, labels) {
    if (labels[core_names/* LABEL */.d_.managed] === 'true' && labels[core_names/* LABEL */.d_.app] === app)
        return undefined;
    const whose = labels[core_names/* LABEL */.d_.app] && labels[core_names/* LABEL */.d_.managed] === 'true' ? `cutover's container of the app ${labels[core_names/* LABEL */.d_.app]}` : 'not made by cutover';
    return (`A container named ${name} is in the way, and it is ${whose} (it lacks the labels ${core_names/* LABEL */.d_.managed}=true and ${core_names/* LABEL */.d_.app}=${app}): ` +
        `cutover leaves it as it is. Rename or remove it yourself (docker rename ${name} ${name}-old), or deploy under another app name. Nothing was changed.`);
}

;// CONCATENATED MODULE: ./src/engine/color-set.ts








/** ' (replica N)' for replicas after the first, so one-container logs read as before. */
function replicaNote(replica) {
    return replica > 1 ? ` (replica ${replica})` : '';
}
/** The color set of an app on one Docker host: containers `<app>-<color>[-N]` and its workers. */
class ContainerColorSet {
    ctx;
    gateAsksProxy = false;
    workers;
    /** Live workers stopped for a stop-first hand-over: started again if the release fails before the switch. */
    stoppedForHandover = [];
    /** The new containers' restart policy, being set since the gate passed (gated()). */
    policies;
    /** Whether boot set containers aside (a standby replaced), and whether the proxy held none of their requests just before the switch. */
    replacing = false;
    replacedIdle;
    /** The app's containers, listed once for the inspect step (recover and inspect); dropped when it ends or a container moves. */
    listing;
    constructor(ctx) {
        this.ctx = ctx;
        this.workers = new Workers({
            config: ctx.config,
            host: ctx.host,
            log: ctx.log,
            clock: ctx.clock,
            run: ctx.deps.run,
            network: (0,core_names/* networkName */.uv)(ctx.app),
            aborted: () => ctx.abortReason
        });
    }
    get app() {
        return this.ctx.app;
    }
    /** A container by name, refused when it is not cutover's container of this app (a hand-made one in the way). */
    async own(name) {
        const info = await this.ctx.host.inspect(name);
        const problem = info && foreignContainerProblem(this.app, name, info.labels);
        if (problem)
            throw new ReleaseError({ reason: problem });
        return info;
    }
    readAhead() {
        this.listed().catch(() => undefined); // read by recover, which reports its failure
    }
    listed() {
        return (this.listing ??= this.ctx.host.listApp(this.app));
    }
    async inspect(releases) {
        try {
            const all = this.ctx.web ? await this.listed() : [];
            return await Promise.all(core_names/* COLORS */.lm.map(color => (this.ctx.web ? this.inspectWeb(color, all) : this.workers.colorState(color, releases))));
        }
        finally {
            this.listing = undefined;
        }
    }
    async inspectWeb(color, all) {
        // Each replica the listing has, inspected at once (the first one's owner is checked by name).
        const further = replicasAmong(all, this.app, color).serving.filter(i => i > 1 && i <= core_names/* MAX_REPLICAS */.zq);
        const [info, ...others] = await Promise.all([
            this.own((0,core_names/* containerName */.xN)(this.app, color)),
            ...further.map(i => this.ctx.host.inspect((0,core_names/* containerName */.xN)(this.app, color, i)))
        ]);
        if (!info)
            return { color, exists: false, running: false };
        // Further replicas count while they follow on (2, 3, ...) and serve the same release as the first.
        let replicas = 1;
        let allRunning = info.running && !info.restarting;
        for (const [k, more] of others.entries()) {
            if (further[k] !== replicas + 1 || !more || more.labels[core_names/* LABEL */.d_.release] !== info.labels[core_names/* LABEL */.d_.release])
                break;
            replicas++;
            allRunning &&= more.running && !more.restarting;
        }
        return {
            color,
            exists: true,
            replicas,
            running: allRunning,
            image: info.labels[core_names/* LABEL */.d_.image],
            releaseId: info.labels[core_names/* LABEL */.d_.release],
            id: info.id,
            imageId: info.imageId,
            configHash: info.labels[core_names/* LABEL */.d_.configHash]
        };
    }
    async recover(live, preview) {
        const all = await this.listed();
        const moved = await Promise.all(core_names/* COLORS */.lm.map(color => this.recoverAside(color, all, live, preview)));
        const workersMoved = await this.workers.recoverAside(live, all);
        if (moved.includes(true) || workersMoved)
            this.listing = undefined;
        await this.workers.stopStray(live, workersMoved ? undefined : all);
    }
    /**
     * A run that died between setting a container aside and finishing leaves it behind. If its color
     * is live the switch completed and the aside container is obsolete; otherwise the replacement
     * never went live: put the old container back.
     */
    async recoverAside(color, all, live, preview) {
        const { host, log } = this.ctx;
        const { aside: found } = replicasAmong(all, this.app, color);
        for (const i of found) {
            const aside = await this.own((0,core_names/* asideName */.o1)(this.app, color, i));
            if (!aside)
                continue;
            // A preview recorded on this color was gated: what it replaced is obsolete as after a switch.
            const current = preview?.color === color ? await host.inspect((0,core_names/* containerName */.xN)(this.app, color, i)) : undefined;
            if (live?.color === color || (current && current.labels[core_names/* LABEL */.d_.release] === preview?.instance)) {
                log.info(`Removing ${(0,core_names/* asideName */.o1)(this.app, color, i)}, left behind by an interrupted run after its switch`);
                await host.remove(aside.id);
                await this.prune(aside.imageId);
            }
            else {
                log.info(`Recovering from an interrupted run: putting ${(0,core_names/* asideName */.o1)(this.app, color, i)} back as ${(0,core_names/* containerName */.xN)(this.app, color, i)}`);
                await this.restoreAside(color, i);
            }
        }
        return found.length > 0;
    }
    async boot(plan, release) {
        const { config, host, log } = this.ctx;
        const replicas = oneTo(plan.replicas);
        if (plan.kind === 'reuse-standby') {
            if (plan.mustStart) {
                for (const i of replicas)
                    await host.start((0,core_names/* containerName */.xN)(this.app, plan.color, i));
                log.info(`Started the stopped standby ${this.describe(plan)}`);
            }
            return;
        }
        // Every container of the color moves aside, those beyond the new size too: they are retired with it.
        const { serving } = await replicasOnHost(host, this.app, plan.color);
        this.replacing = serving.length > 0;
        for (const i of union(serving, replicas))
            await this.setAside(plan.color, i);
        for (const i of replicas) {
            const spec = containerSpec({
                app: this.app,
                color: plan.color,
                replica: i,
                image: plan.image,
                network: (0,core_names/* networkName */.uv)(this.app),
                settings: config.container,
                appPort: config.health.port,
                releaseId: release.instance,
                startedAt: this.ctx.nowIso(),
                run: this.ctx.deps.run,
                hash: release.configHash
            });
            const containerId = await host.create(spec);
            await host.start(spec.name);
            log.info(`Started ${spec.name} (${containerId.slice(0, 12)}) from ${plan.image}`);
        }
    }
    /** How the boot and gate steps name the color's containers. */
    describe(plan) {
        const first = (0,core_names/* containerName */.xN)(this.app, plan.color);
        return plan.replicas > 1 ? `${plan.replicas} replicas of ${plan.color} (${first}…)` : first;
    }
    async gate(plan, live) {
        const { config, host, log, timeline, clock } = this.ctx;
        const names = oneTo(plan.replicas).map(i => (0,core_names/* containerName */.xN)(this.app, plan.color, i));
        // All replicas boot at once; the gate fails with the first one that fails.
        const outcomes = await timeline.step('healthy', `Waiting for ${this.describe(plan)} to be healthy`, async (note) => {
            const all = await Promise.all(names.map(async (name) => ({
                name,
                outcome: await waitHealthy({ host, name, network: (0,core_names/* networkName */.uv)(this.app), settings: config.health, log, clock, aborted: () => this.ctx.abortReason })
            })));
            const failed = all.find(o => !o.outcome.healthy);
            note(failed && !failed.outcome.healthy ? failed.outcome.reason : `${all.reduce((sum, o) => sum + (o.outcome.healthy ? o.outcome.probes : 0), 0)} probe(s)`);
            return all;
        });
        this.ctx.checkAborted(live);
        const failed = outcomes.find(o => !o.outcome.healthy);
        if (failed && !failed.outcome.healthy) {
            const health = failed.outcome;
            const logs = await host.logs(failed.name, 30).catch(e => `(logs unavailable: ${e.message})`);
            throw new ReleaseError({
                reason: `${failed.name} (${plan.image}) did not become healthy: ${health.reason}. ${live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'}`,
                logs,
                container: failed.name,
                exitCode: health.exitCode,
                oomKilled: health.oomKilled
            });
        }
        // A standby live until less than drain-timeout ago: asked now, while its servers are still its own.
        if (this.replacing && live && clock.now() - Date.parse(live.liveSince) < config.proxy.drainTimeoutMs)
            this.replacedIdle = colorIdle(this.ctx, plan.color);
        if (plan.kind === 'start-new' && config.container.restart.Name !== 'no') {
            // Set while the exposure writes its ledger entry (~50 ms each); it awaits gated() before any route changes.
            this.policies = Promise.all(names.map(n => host.setRestartPolicy(n, config.container.restart))).then(() => undefined);
            this.policies.catch(() => undefined);
        }
    }
    async gated() {
        const policies = this.policies;
        this.policies = undefined;
        await Promise.all([policies, this.replacedIdle]);
    }
    async startWorkers(plan, release, workers, live) {
        if (!workers.length)
            return;
        const stillLive = live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.';
        await this.ctx.timeline.step('workers', `Starting ${workers.length} worker(s) on ${plan.color}`, async () => {
            if (live && this.workers.roles.handover === 'stop-first')
                this.stoppedForHandover = await this.workers.stopBeforeHandover(live.color, plan.color);
            await this.workers.startAndGate(plan, release, workers, stillLive);
        });
        this.ctx.checkAborted(live);
    }
    async restore(plan, workers) {
        const { log } = this.ctx;
        // A restart policy still being set must not land on a container after it was stopped or kept.
        await this.gated().catch(() => undefined);
        if (workers.length || this.stoppedForHandover.length) {
            await this.workers.undo(plan, workers).catch(u => log.warning(`Could not undo the start of the workers: ${u.message}`));
            const stopped = this.stoppedForHandover;
            this.stoppedForHandover = [];
            await this.workers.resume(stopped).catch(u => log.warning(`Could not start the live workers again: ${u.message}`));
        }
        if (!this.ctx.web)
            return;
        for (const i of oneTo(plan.replicas))
            await this.discardFailed(plan.color, plan.kind === 'reuse-standby', i);
        if (plan.kind === 'start-new') {
            const { aside } = await replicasOnHost(this.ctx.host, this.app, plan.color);
            for (const i of aside)
                await this.restoreAside(plan.color, i);
        }
    }
    /** Moves the idle color's old container out of the way of its replacement; it keeps running. */
    async setAside(color, replica) {
        const old = await this.own((0,core_names/* containerName */.xN)(this.app, color, replica));
        if (!old)
            return;
        await this.ctx.host.remove((0,core_names/* asideName */.o1)(this.app, color, replica));
        await this.ctx.host.rename(old.id, (0,core_names/* asideName */.o1)(this.app, color, replica));
        this.ctx.log.info(`Set the old ${color}${replicaNote(replica)} container (${old.labels[core_names/* LABEL */.d_.image] ?? '?'}) aside until ${color} is healthy and live`);
    }
    /** Puts the set-aside container back under its name after a failed release. */
    async restoreAside(color, replica) {
        const aside = await this.ctx.host.inspect((0,core_names/* asideName */.o1)(this.app, color, replica));
        if (!aside)
            return;
        await this.ctx.host.remove((0,core_names/* containerName */.xN)(this.app, color, replica));
        await this.ctx.host.rename(aside.id, (0,core_names/* containerName */.xN)(this.app, color, replica));
        this.ctx.log.info(`Put the previous ${color}${replicaNote(replica)} container back, so the standby is kept`);
    }
    /** Stops a container that failed its gate; removes it unless keep-failed (or it was the kept standby). */
    async discardFailed(color, wasStandby, replica) {
        const { host, log, config } = this.ctx;
        const name = (0,core_names/* containerName */.xN)(this.app, color, replica);
        try {
            if (config.keepFailed || wasStandby) {
                await host.stop(name, 5);
                if (wasStandby) {
                    log.info(`Stopped ${name} again`);
                }
                else {
                    // Out of the way of the standby being put back, under a name that says what it is.
                    await host.remove((0,core_names/* failedName */.VT)(this.app, color, replica));
                    await host.rename(name, (0,core_names/* failedName */.VT)(this.app, color, replica));
                    log.info(`Stopped the failed container and kept it as ${(0,core_names/* failedName */.VT)(this.app, color, replica)} for inspection (keep-failed)`);
                }
            }
            else {
                await host.remove(name);
                log.info(`Removed the failed container ${name} (set keep-failed: true to keep it)`);
            }
        }
        catch (e) {
            log.warning(`Could not clean up ${name}: ${e.message}`);
        }
    }
    /**
     * Removes the containers the new color replaced (the old standby) and their image. That standby
     * may have been live until recently (a deploy right after a rollback) and still hold drained
     * connections, WebSockets above all: it gets what is left of its drain-timeout first.
     */
    async retireReplaced(before, liveColor, endedCanary, drain = true) {
        const { config, log, host, clock } = this.ctx;
        const { aside } = await replicasOnHost(host, this.app, liveColor);
        const replaced = (await Promise.all(aside.map(i => host.inspect((0,core_names/* asideName */.o1)(this.app, liveColor, i))))).filter(c => c !== undefined);
        if (!replaced.length)
            return;
        const what = `${liveColor} container${replaced.length > 1 ? `s (${replaced.length})` : ''} (${replaced[0].labels[core_names/* LABEL */.d_.image] ?? '?'})`;
        // It stopped being live when the release live before this run went live, or, for a canary ended since, when it was ended.
        const ended = endedCanary?.color === liveColor ? Date.parse(endedCanary.at) : NaN;
        const liveUntil = Math.max(...[before ? Date.parse(before.liveSince) : NaN, ended].filter(t => Number.isFinite(t)), -Infinity);
        const drainLeft = liveUntil + config.proxy.drainTimeoutMs - clock.now();
        if (!drain && drainLeft > 0)
            log.info(`The run was cancelled: removing the replaced ${what} now, without the ${Math.ceil(drainLeft / 1000)} s of drain left`);
        const held = drain && replaced.some(c => c.running) && drainLeft > 0;
        if (held && (await this.replacedIdle))
            log.info(`The replaced ${what} took new requests until ${Math.round((clock.now() - liveUntil) / 1000)} s ago, and the proxy held none of them any more before the switch: removing it now, without the ${Math.ceil(drainLeft / 1000)} s of drain-timeout left`);
        else if (held) {
            log.info(`The replaced ${what} took new requests until ${Math.round((clock.now() - liveUntil) / 1000)} s ago: letting its connections drain ${Math.ceil(drainLeft / 1000)} s more (drain-timeout) before removing it`);
            await clock.sleep(drainLeft);
        }
        for (const c of replaced)
            await host.remove(c.id);
        log.info(`Removed the replaced ${what}`);
        for (const imageId of new Set(replaced.map(c => c.imageId)))
            await this.prune(imageId);
    }
    async keepPrevious(before, previousColor) {
        const { config, log, host, router } = this.ctx;
        if (!before)
            return undefined;
        const { serving } = await replicasOnHost(host, this.app, previousColor);
        const names = serving.map(i => (0,core_names/* containerName */.xN)(this.app, previousColor, i));
        const name = names.length > 1 ? `${names.join(', ')}` : (0,core_names/* containerName */.xN)(this.app, previousColor);
        const standby = { color: before.color, image: before.image, state: 'running' };
        const endDrain = config.proxy.sticky ? router.endDrain?.bind(router) : undefined;
        if (config.keepPrevious === 'running' && !endDrain) {
            log.info(`${name} ${names.length > 1 ? 'keep' : 'keeps'} running as the standby for an instant rollback.`);
            return standby;
        }
        // sticky: clients holding a cookie of the old color stay on it until its drain ends, whatever keep-previous says.
        const then = config.keepPrevious === 'running'
            ? 'its sticky clients move over (it keeps running as the standby)'
            : `${names.length > 1 ? 'they are' : 'it is'} ${config.keepPrevious}`;
        log.info(`Draining ${name} for ${config.proxy.drainTimeoutMs / 1000} s (drain-timeout) before ${then}`);
        const drained = await drainColor(this.ctx, previousColor, config.proxy.drainTimeoutMs);
        if (drained.early)
            log.info(`The proxy holds no request of ${name} any more, after ${drained.ms} ms: the drain ends early`);
        if (endDrain)
            await endDrain(previousColor);
        if (config.keepPrevious === 'running')
            return standby;
        if (config.keepPrevious === 'stopped' && names.length) {
            for (const n of names)
                await host.stop(n, 10);
            standby.state = 'stopped';
        }
        else {
            for (const n of names)
                await host.remove(n);
            standby.state = 'removed';
        }
        return standby;
    }
    retireWorkers(previous, liveColor) {
        return this.workers.retire(previous, liveColor);
    }
    async discard(release) {
        const { host } = this.ctx;
        const { serving, aside } = await replicasOnHost(host, this.app, release.color);
        // Only containers of the release: a color whose containers are something else (hand-made) is left alone.
        const found = await Promise.all(serving.map(async (i) => ({ name: (0,core_names/* containerName */.xN)(this.app, release.color, i), info: await host.inspect((0,core_names/* containerName */.xN)(this.app, release.color, i)) })));
        const ours = found.filter(f => f.info?.labels[core_names/* LABEL */.d_.release] === release.instance).map(f => ({ ...f.info, name: f.name }));
        // In-flight requests finish (SIGTERM, 5 s grace) before the containers go.
        await Promise.all(ours.map(c => host.stop(c.name, 5).catch(() => undefined)));
        for (const c of ours)
            await host.remove(c.name);
        for (const i of aside)
            await host.remove((0,core_names/* asideName */.o1)(this.app, release.color, i));
        for (const imageId of new Set(ours.map(i => i.imageId)))
            await this.prune(imageId);
        return ours.length;
    }
    /** The first other app whose record names this image (by a reference or digest that is this image on the host). */
    async recordedElsewhere(imageId) {
        const recorded = await this.ctx.ledger.imagesOfOtherApps();
        const ids = new Map();
        for (const r of recorded)
            if (!ids.has(r.image))
                ids.set(r.image, this.ctx.host.image(r.image).then(i => i?.id));
        for (const r of recorded)
            if ((await ids.get(r.image)) === imageId)
                return r;
        return undefined;
    }
    workerStates(color) {
        return this.workers.states(color);
    }
    async isCurrent(live, state, image, hash, replicas) {
        const roles = this.ctx.config.roles ?? NO_ROLES;
        const sameSize = (live.replicas ?? 1) === replicas && (state?.replicas ?? 1) >= replicas;
        const webSame = !this.ctx.web || (state?.running && state.imageId === image.id && state.configHash === hash && sameSize);
        return !!webSame && (await this.workers.allLive(live.color, image.id, hash, roles.workers));
    }
    async pullWorkerImages(workers) {
        await this.workers.pullImages(workers);
    }
    /**
     * Removes an image no container uses and no other app on the host records (issue #22: another
     * app may have just pulled it for its own release). Never fails the run: a prune left undone warns.
     */
    async prune(imageId) {
        const keeper = await this.recordedElsewhere(imageId).catch(e => {
            this.ctx.log.warning(`Kept the image ${imageId.slice(7, 19)}: could not tell whether another app on the host records it (${e.message})`);
            return null;
        });
        if (keeper === null)
            return;
        if (keeper) {
            this.ctx.log.info(`Kept the image ${imageId.slice(7, 19)}: the app ${keeper.app} records it (${keeper.image})`);
            return;
        }
        const result = await this.ctx.host.removeImage(imageId).catch(e => {
            this.ctx.log.warning(`Could not prune image ${imageId}: ${e.message}`);
            return 'in-use';
        });
        if (result === 'removed')
            this.ctx.log.info(`Pruned the image ${imageId.slice(7, 19)}, no longer used by either color`);
    }
}

;// CONCATENATED MODULE: ./src/engine/ports.ts
class LedgerError extends Error {
    name = 'LedgerError';
}
const systemClock = {
    now: () => Date.now(),
    sleep: ms => new Promise(resolve => setTimeout(resolve, ms))
};

;// CONCATENATED MODULE: ./src/engine/context.ts



/** The slice itself, so that the secrets are not even carried along. */
function engineConfigOf(config) {
    const { ssh, github, registry, fleet, ...slice } = config;
    return slice;
}
function newReleaseId() {
    return `${Date.now().toString(36)}-${(0,external_node_crypto_.randomBytes)(3).toString('hex')}`;
}
/**
 * What every step of a run shares, in place of an engine object's fields: the configuration slice,
 * the ports, the clock, the log and timeline, and the abort signal. It holds no state of the
 * release itself; the pipeline passes that along explicitly.
 */
class EngineContext {
    deps;
    clock;
    newId;
    aborter = new AbortController();
    reason;
    constructor(deps) {
        this.deps = deps;
        this.clock = deps.clock ?? systemClock;
        this.newId = deps.newId ?? newReleaseId;
    }
    get config() {
        return this.deps.config;
    }
    get host() {
        return this.deps.host;
    }
    get router() {
        return this.deps.router;
    }
    get ledger() {
        return this.deps.ledger;
    }
    get log() {
        return this.deps.log;
    }
    get timeline() {
        return this.deps.timeline;
    }
    get app() {
        return this.deps.config.app;
    }
    /** false with app-port: none: no web role, so no proxy is created, asked or switched. */
    get web() {
        return this.deps.config.roles?.web ?? true;
    }
    /** What this app claims on its proxy with this run's inputs. */
    get claim() {
        const { name, domains, previewDomains } = this.deps.config.proxy;
        return { proxy: name, domains, ...(previewDomains?.length ? { previewDomains } : {}) };
    }
    /** The claim the ledger records (none without a web role). */
    get routing() {
        return this.web ? this.claim : undefined;
    }
    /** Fires on abort: what waits on a container (the release command) stops at once. */
    get signal() {
        return this.aborter.signal;
    }
    /** Why the run was told to stop (a signal), if it was. */
    get abortReason() {
        return this.reason;
    }
    abort(reason) {
        this.reason ??= reason;
        this.aborter.abort();
    }
    /** Throws at a safe point once the run was told to stop; `live` is what still serves. */
    checkAborted(live) {
        if (this.reason)
            throw new ReleaseError({
                reason: `${this.reason}: stopped before the switch; ${live ? `${live.color} (${live.image}) is still live` : 'nothing was switched'}.`
            });
    }
    route(color, releaseId, replicas = 1) {
        return { app: this.app, color, releaseId, appPort: this.deps.config.health.port, replicas };
    }
    /** The route to a recorded release. */
    routeTo(release) {
        return this.route(release.color, release.id, release.replicas ?? 1);
    }
    nowIso() {
        return new Date(this.clock.now()).toISOString();
    }
}

// EXTERNAL MODULE: ./src/core/capabilities.ts
var capabilities = __webpack_require__(3649);
;// CONCATENATED MODULE: ./src/engine/exposure.ts


const VERIFY_TIMEOUT_MS = 10_000;
/** The last look through the proxy at the end of a run: a live app answers well within this. */
const CONFIRM_TIMEOUT_MS = 2000;
/** The verify step: asks through the proxy until `route`'s release answers, or VERIFY_TIMEOUT_MS. */
function verifyStep(ctx, route) {
    const { router, config, timeline } = ctx;
    return timeline.step('verify', 'Verifying through the proxy', async (note) => {
        const v = await router.verify(route, config.health.path, VERIFY_TIMEOUT_MS);
        note(`${describeAnswer(v.last)} after ${v.ms} ms`);
        return v;
    });
}
/** Writes the ledger as part of undoing: a failure is said, not thrown (the next run settles the record). */
async function rewriteLedger(ctx, record) {
    await ctx.ledger.write(record).catch(e => ctx.log.warning(`Could not update the release ledger: ${e.message} (the next run settles it)`));
}
/**
 * Routes the app to `live` alone. A proxy that does not answer (killed, or its container stopped)
 * is started again first — its saved routes come back with it — and asked once more, so the run
 * that sees the proxy down brings it back.
 */
async function routeBack(ctx, live, network) {
    try {
        await ctx.router.apply(ctx.routeTo(live));
    }
    catch (e) {
        ctx.log.warning(`Routing ${ctx.app} to ${live.color} failed (${e.message}): starting the proxy again if it is down, then trying once more`);
        await ctx.router.ensure(network);
        await ctx.router.apply(ctx.routeTo(live));
    }
}
/**
 * At the end of a run that switched: the proxy still answers from the release the run reports. A
 * proxy killed since the switch (docker kill, the kernel's OOM killer) is started again, its
 * saved routes with it; if it still does not answer, the run fails saying so.
 */
async function confirmServed(ctx, release, network) {
    const route = ctx.routeTo(release);
    const first = await ctx.router.verify(route, ctx.config.health.path, CONFIRM_TIMEOUT_MS).catch((e) => e);
    if (!(first instanceof Error) && first.ok)
        return;
    ctx.log.warning(`The proxy no longer answers from ${release.color} (${first instanceof Error ? first.message : describeAnswer(first.last)}): starting it again if it is down`);
    await ctx.router.ensure(network);
    const again = await ctx.router.verify(route, ctx.config.health.path, VERIFY_TIMEOUT_MS);
    if (!again.ok)
        throw new ReleaseError({
            reason: `At the end of the run the proxy did not answer from ${release.color} (${release.image}) within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(again.last)}), though it routes there: check the proxy container.`
        });
}

;// CONCATENATED MODULE: ./src/engine/plan.ts

/** Whether a container is the one started for this release. */
function isContainerOf(container, release) {
    if (!container.exists || container.color !== release.color)
        return false;
    // Containers started before the ledger existed carry no release id: match them by image.
    return container.releaseId ? container.releaseId === release.instance : container.image === release.image;
}
/**
 * Decides what a release does from what is found on the host alone (the ledger's releases, newest
 * first, and the two colors' containers), so any runner, or a re-run after a crash, reaches the
 * same decision. Pure: no I/O.
 */
function planRelease(releases, containers, request) {
    const live = releases[0];
    const byColor = (c) => containers.find(x => x.color === c) ?? { color: c, exists: false, running: false };
    const idle = live ? (0,core_names/* otherColor */.IP)(live.color) : 'blue';
    const replicas = request.replicas ?? 1;
    if (request.kind === 'deploy') {
        return { kind: 'start-new', color: idle, image: request.image, replicas, why: live ? `${live.color} is live` : 'first deploy' };
    }
    if (request.toImage) {
        if (!live)
            return { kind: 'start-new', color: idle, image: request.toImage, replicas, why: 'rollback to a given image on an empty host' };
        return { kind: 'start-new', color: idle, image: request.toImage, replicas, why: `rollback of ${live.color} to the image given in to-image` };
    }
    if (!live)
        return { kind: 'impossible', why: 'nothing has been deployed on this host yet, so there is nothing to roll back to' };
    const back = request.toRelease ?? 1;
    const target = releases[back];
    if (!target) {
        if (releases.length === 1) {
            return { kind: 'impossible', why: `only one version (${live.image}) has been deployed, so there is no previous version to roll back to` };
        }
        return {
            kind: 'impossible',
            why: `to-release ${back} asks for the release ${back} back, but the host records only ${releases.length - 1} earlier release(s)`
        };
    }
    const candidate = byColor(idle);
    // A rollback brings the release back at the size it had, whatever 'replicas' says now.
    const size = target.replicas ?? 1;
    if (isContainerOf(candidate, target) && (candidate.replicas ?? 1) >= size) {
        return {
            kind: 'reuse-standby',
            color: idle,
            image: target.image,
            replicas: size,
            mustStart: !candidate.running,
            why: candidate.running ? 'the previous version is still running' : 'the previous version is stopped',
            restores: target
        };
    }
    return {
        kind: 'start-new',
        color: idle,
        image: target.image,
        replicas: size,
        why: back === 1 ? 'the previous container is gone, so its image is started again' : `its container is gone, so its image is started again on ${idle}`,
        restores: target
    };
}

;// CONCATENATED MODULE: ./src/engine/results.ts

/** The recorded previous release's color as the host has it now. */
function standbyOf(releases, colors) {
    const previous = releases[1];
    if (!previous)
        return undefined;
    const c = colors.find(x => x.color === previous.color);
    const state = !c || !isContainerOf(c, previous) ? 'removed' : c.running ? 'running' : 'stopped';
    return { color: previous.color, image: previous.image, state };
}
/** A result that names `live` as what serves and the ledger's releases behind it. */
function resultOf(result, live, releases, containerId, standby) {
    const previous = releases[1];
    return {
        result,
        color: live.color,
        image: live.image,
        containerId,
        deployedAt: live.liveSince,
        previousColor: previous?.color,
        previousImage: previous?.image,
        standby,
        release: live,
        releases
    };
}
/** What a failed run reports: what serves (as far as the run knows) and the ledger's releases. */
function failedResultOf(live, releases) {
    const previous = releases.find(r => r.id !== live?.id);
    return {
        result: 'failed',
        color: live?.color,
        image: live?.image,
        deployedAt: live?.liveSince,
        previousColor: previous?.color,
        previousImage: previous?.image,
        release: live,
        releases
    };
}

;// CONCATENATED MODULE: ./src/engine/expose-canary.ts





/**
 * canary-weight: the gated new color takes `weight` % of new requests beside the live one.
 * Recorded first, so a run that dies here leaves a canary the next promote or rollback ends.
 */
function canaryExposure(weight) {
    return {
        kind: 'canary',
        needs: ['weights'],
        input: 'canary-weight',
        async expose(run) {
            const { ctx, plan, record, release, route, undo } = run;
            const live = run.live;
            await run.ready();
            const canary = ctx.router.canary.bind(ctx.router);
            const liveRoute = ctx.routeTo(live);
            release.liveSince = ctx.nowIso();
            await ctx.ledger.write({ ...record, pending: undefined, preview: undefined, canary: { release, weight, since: release.liveSince } });
            undo.push('the canary record', () => rewriteLedger(ctx, { ...record, pending: undefined, canary: undefined }));
            // Pushed before the proxy is told: one that fails half-way is routed back too.
            undo.push(`the canary's share on ${plan.color}`, () => routeBack(ctx, live, (0,core_names/* networkName */.uv)(ctx.app)), {
                live,
                why: `The proxy may still send ${weight} % of new requests to ${plan.color} (${plan.image}), so its containers were kept and the canary stays recorded: mode rollback ends it.`
            });
            await ctx.timeline.step('switch', `Sending ${weight} % of new requests to ${plan.color}`, () => canary(liveRoute, route, weight).catch((e) => {
                throw new ReleaseError({
                    reason: `The proxy could not start the canary on ${plan.color}: ${e.message}. ${live.color} (${live.image}) is still live.`
                });
            }));
            const verified = await verifyStep(ctx, liveRoute);
            if (!verified.ok)
                throw new ReleaseError({
                    reason: `After the canary started the proxy did not answer within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(verified.last)}).`
                });
            if (ctx.deps.afterVerify)
                await ctx.deps.afterVerify();
        },
        async settle(run) {
            const { ctx, colors, plan, record, release } = run;
            const live = run.live;
            ctx.log.info(`${plan.image} on ${plan.color} serves ${weight} % of new requests; ${live.image} on ${live.color} the rest. mode promote makes it live, mode rollback ends it.`);
            // The containers the canary replaced (the old standby) go after their drain; the live color stays as it is.
            await ctx.timeline.step('cleanup', 'Cleaning up', () => colors.retireReplaced(live, plan.color, record.endedCanary));
            const info = await ctx.host.inspect((0,core_names/* containerName */.xN)(ctx.app, plan.color));
            return { ...resultOf('canary', release, record.releases, info?.id), previousColor: live.color, previousImage: live.image };
        }
    };
}

;// CONCATENATED MODULE: ./src/engine/canary-request-log.ts

/**
 * canary-steps: the proxy's log of each request of one step, where the router keeps one, so the
 * step's p95 per color is known. Turned on for the step only (steady state logs nothing) and off
 * again whatever ends the step. Without it the step judges the window mean, and `note` says why.
 */
class StepRequestLog {
    run;
    token;
    failures = 0;
    /** Why the step's response times are window means (undefined while the log works). */
    note;
    constructor(run) {
        this.run = run;
    }
    async start(weight) {
        const { router, app } = this.run.ctx;
        if (!router.startRequestLog || !router.requestLog) {
            this.note = `the ${router.capabilities.name} router logs no requests`;
            return;
        }
        // One word, new for every step: lines of an earlier step (or run) never count in this one.
        const token = `${app}.${weight}.${(0,external_node_crypto_.randomBytes)(4).toString('hex')}`;
        try {
            if (await router.startRequestLog(token))
                this.token = token;
            else
                this.note = "the proxy's running configuration has no request log yet (it gains one at its next reload)";
        }
        catch (e) {
            this.note = `the proxy's request log could not be turned on (${e.message})`;
        }
    }
    /** The step's requests logged so far into `window`; a failed read is noted and the next one tried. */
    async read(window) {
        if (!this.token)
            return;
        try {
            window.addRequests(await this.run.ctx.router.requestLog(this.token));
        }
        catch (e) {
            if (this.failures++ === 0)
                this.run.ctx.log.warning(`canary-steps: could not read the proxy's request log: ${e.message}`);
            this.note = `the proxy's request log could not be read ${this.failures} times (${e.message})`;
        }
    }
    async stop() {
        if (!this.token)
            return;
        this.token = undefined;
        try {
            await this.run.ctx.router.stopRequestLog?.();
        }
        catch (e) {
            // Harmless beyond its cost: the entry lives in the running process only and ends with its next reload.
            this.run.ctx.log.warning(`canary-steps: could not turn the proxy's request log off: ${e.message}; the proxy's next reload does`);
        }
    }
}

;// CONCATENATED MODULE: ./src/engine/watch.ts

/**
 * watch (issue #12): after a verified switch, the new color is observed through the proxy for a
 * while: the 5xx share of its responses, as the proxy counts them, and its health path asked
 * through the proxy. Either going wrong makes the engine switch back.
 */
/** How often the counters are read and the health path is asked. */
const WATCH_TICK_MS = 2000;
/** How soon a cancel is noticed while waiting for the next sample. */
const ABORT_SLICE_MS = 250;
/** One health probe through the proxy waits at most this long for an answer from the new release. */
const WATCH_PROBE_TIMEOUT_MS = 2000;
/** Health fails the watch after this many failed probes in a row (one slow answer is not an outage). */
const WATCH_HEALTH_FAILURES = 3;
/**
 * Below this many responses in the whole window the 5xx share is not judged: 1 failure of 2
 * requests of a quiet app says nothing about the release.
 */
const MIN_RESPONSES_JUDGED = 20;
/** Before the window ends, the share is judged only once this many responses were counted (an early spike of a few errors can be noise). */
const MIN_RESPONSES_EARLY = 100;
/**
 * Running totals of responses and 5xx over the window, from samples of the proxy's counters. The
 * first sample is the baseline; a sample lower than the one before means the proxy reloaded (its
 * new process counts from zero), so that sample counts whole.
 */
class ResponseTally {
    responses = 0;
    errors = 0;
    last;
    add(sample) {
        const last = this.last;
        this.last = sample;
        if (!last)
            return;
        const reset = sample.responses < last.responses || sample.errors < last.errors;
        this.responses += reset ? sample.responses : sample.responses - last.responses;
        this.errors += reset ? sample.errors : sample.errors - last.errors;
    }
    get started() {
        return this.last !== undefined;
    }
}
/** The 5xx share of `errors` of `responses` against `maxPercent`, judged from `minResponses` responses on. */
function errorShare(responses, errors, maxPercent, minResponses = MIN_RESPONSES_JUDGED) {
    const percent = responses > 0 ? (100 * errors) / responses : 0;
    const judged = responses >= minResponses;
    return { judged, percent, over: judged && percent > maxPercent };
}
function secondsOf(ms) {
    return `${Math.round(ms / 1000)} s`;
}
function percentOf(p) {
    return `${p.toFixed(1)} %`;
}
/** "5 %", "0.5 %": the limit as the user wrote it. */
function limitOf(p) {
    return `${p} %`;
}
/** Observes the new color for `settings.durationMs`; resolves with the verdict (never throws for what it sees). */
async function watchRelease(deps) {
    const { router, route, healthPath, settings, clock, log } = deps;
    const counts = router.responseCounts?.bind(router);
    const started = clock.now();
    const elapsed = () => clock.now() - started;
    const tally = new ResponseTally();
    let countErrors = 0;
    const sample = async () => {
        if (!counts)
            return;
        try {
            tally.add(await counts());
        }
        catch (e) {
            // The health probes still watch; the share is judged on the samples that came.
            if (countErrors++ === 0)
                log.warning(`watch: could not read the proxy's response counters: ${e.message}`);
        }
    };
    let probes = 0;
    let answered = 0;
    let failedInRow = 0;
    const describeCounts = () => {
        if (!counts)
            return 'the proxy counts no responses';
        if (!tally.started)
            return "the proxy's response counters could not be read";
        const share = errorShare(tally.responses, tally.errors, settings.maxErrorRate);
        if (!share.judged)
            return `${tally.errors} of ${tally.responses} responses were 5xx: too few to judge (fewer than ${MIN_RESPONSES_JUDGED})`;
        return `${tally.errors} of ${tally.responses} responses (${percentOf(share.percent)}) were 5xx (at most ${limitOf(settings.maxErrorRate)} allowed)`;
    };
    const summary = () => `${describeCounts()}; ${healthPath} answered ${answered} of ${probes} probes in ${secondsOf(elapsed())}`;
    log.info(`Watching ${route.color} for ${secondsOf(settings.durationMs)}: the 5xx share of its responses (at most ${limitOf(settings.maxErrorRate)}, judged from ${MIN_RESPONSES_JUDGED} responses) and ${healthPath} through the proxy every ${WATCH_TICK_MS / 1000} s`);
    await sample();
    for (;;) {
        const abort = deps.aborted();
        if (abort)
            return { kind: 'aborted', ms: elapsed(), abortReason: abort, summary: summary() };
        const elsewhere = deps.failedElsewhere?.();
        if (elsewhere)
            return { kind: 'failed', ms: elapsed(), reason: elsewhere };
        const left = settings.durationMs - elapsed();
        if (left <= 0)
            break;
        // In slices: a cancel must end the watch well within the runner's grace after its signal.
        const until = clock.now() + Math.min(WATCH_TICK_MS, left);
        while (clock.now() < until && !deps.aborted() && !deps.failedElsewhere?.())
            await clock.sleep(Math.min(ABORT_SLICE_MS, until - clock.now()));
        const stop = deps.aborted();
        if (stop)
            return { kind: 'aborted', ms: elapsed(), abortReason: stop, summary: summary() };
        await sample();
        const probe = await router.verify(route, healthPath, WATCH_PROBE_TIMEOUT_MS);
        probes++;
        if (probe.ok) {
            answered++;
            failedInRow = 0;
        }
        else {
            failedInRow++;
            log.warning(`watch: ${healthPath} through the proxy: ${describeAnswer(probe.last)} (${failedInRow}/${WATCH_HEALTH_FAILURES} in a row)`);
            if (failedInRow >= WATCH_HEALTH_FAILURES) {
                return {
                    kind: 'failed',
                    ms: elapsed(),
                    reason: `${healthPath} failed ${failedInRow} times in a row through the proxy (last answer: ${describeAnswer(probe.last)}) after ${secondsOf(elapsed())}`
                };
            }
        }
        const early = errorShare(tally.responses, tally.errors, settings.maxErrorRate, MIN_RESPONSES_EARLY);
        if (early.over)
            return { kind: 'failed', ms: elapsed(), reason: overReason(tally, early.percent, elapsed(), settings) };
    }
    const share = errorShare(tally.responses, tally.errors, settings.maxErrorRate);
    if (share.over)
        return { kind: 'failed', ms: elapsed(), reason: overReason(tally, share.percent, elapsed(), settings) };
    return { kind: 'passed', ms: elapsed(), summary: summary() };
}
function overReason(tally, percent, ms, settings) {
    return `${tally.errors} of ${tally.responses} responses (${percentOf(percent)}) were 5xx in ${secondsOf(ms)}, above ${limitOf(settings.maxErrorRate)}`;
}

;// CONCATENATED MODULE: ./src/engine/canary-window.ts

class StepWindow {
    servers = new Map();
    /** Requests logged so far (by key: a line read twice counts once) and their response times per color. */
    logged = new Set();
    times = { blue: [], green: [] };
    /** Lines of the proxy's request log for this window (repeats of earlier reads are skipped). */
    addRequests(lines) {
        for (const line of lines) {
            if (this.logged.has(line.key))
                continue;
            this.logged.add(line.key);
            if (line.responseMs !== undefined)
                this.times[line.color].push(line.responseMs);
        }
    }
    /** The first sample is the window's start. */
    add(sample) {
        for (const s of sample) {
            const t = this.servers.get(s.server);
            if (!t) {
                this.servers.set(s.server, { base: s, last: s, responses: 0, errors: 0 });
                continue;
            }
            const reset = s.responses < t.last.responses || s.errors < t.last.errors;
            t.responses += reset ? s.responses : s.responses - t.last.responses;
            t.errors += reset ? s.errors : s.errors - t.last.errors;
            if (reset)
                t.base = undefined;
            t.last = s;
        }
    }
    figures(color) {
        let requests = 0;
        let errors = 0;
        let weighted = 0;
        let margins = 0;
        let timed = 0;
        for (const t of this.servers.values()) {
            if (t.last.color !== color)
                continue;
            requests += t.responses;
            errors += t.errors;
            const since = t.last.responses - (t.base?.responses ?? 0);
            const mean = since > 0 ? windowMeanMs(t.base, t.last) : undefined;
            if (mean === undefined)
                continue;
            weighted += mean.ms * since;
            margins += mean.marginMs * since;
            timed += since;
        }
        const times = this.times[color];
        return {
            requests,
            errors,
            errorPercent: requests > 0 ? round1((100 * errors) / requests) : 0,
            ...(timed > 0 ? { responseMs: Math.round(weighted / timed), responseMarginMs: Math.ceil(margins / timed) } : {}),
            ...(times.length > 0 ? { p95Ms: percentile(times, 95), p95Of: times.length } : {})
        };
    }
}
/** The nearest-rank percentile: the smallest value that at least `p` % of the values do not exceed. */
function percentile(values, p) {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}
/**
 * The mean response time (ms) of the responses a server sent between two readings of its moving
 * average (`from` undefined: since its process started, from zero). With N = averageWindow and
 * d = 1 − 1/N, the proxy keeps S = average × samples: a plain sum over its first N responses, then
 * S' = d·S + v per response. Of the window's k responses the first j (up to N) are summed plainly
 * and the other k − j decay, so for a window of mean m: S_end = d^(k−j)·(S_start + j·m) +
 * m·N·(1 − d^(k−j)), which gives m. (A recency-weighted mean once the average is saturated.)
 * The proxy shows each average rounded up to a whole ms, so each S is known to within `samples`
 * ms: `marginMs` is how far m may be off for that alone (large for a few responses after many).
 */
function windowMeanMs(from, to) {
    const k = to.responses - (from?.responses ?? 0);
    if (k <= 0)
        return undefined;
    const n = to.averageWindow;
    const startSum = from ? from.averageMs * from.averageSamples : 0;
    const plain = Math.max(0, Math.min(k, n - (from?.averageSamples ?? 0)));
    const decay = Math.pow(1 - 1 / n, k - plain);
    const weight = plain * decay + n * (1 - decay);
    const mean = (to.averageMs * to.averageSamples - decay * startSum) / weight;
    return { ms: Math.max(0, mean), marginMs: (to.averageSamples + decay * (from?.averageSamples ?? 0)) / weight };
}
function round1(n) {
    return Math.round(n * 10) / 10;
}
/** Below this difference (beyond the figures' margins) a slower canary is noise: a cold start, a busy host. */
const LATENCY_NOISE_MS = 10;
/**
 * A step's verdict, the canary against the bounds and against the live color over the same window.
 * `early`: judged before the step's time is up, so only from MIN_RESPONSES_EARLY responses on, and
 * only a breach counts (a pass waits for the end).
 */
function judgeStep(canary, live, s, early = false) {
    const enough = early ? MIN_RESPONSES_EARLY : MIN_RESPONSES_JUDGED;
    if (canary.requests < enough)
        return { verdict: 'low-traffic', why: `the canary answered ${canary.requests} requests, too few to judge (fewer than ${enough})` };
    if (canary.errorPercent > s.maxErrorRate)
        return {
            verdict: 'breached',
            why: `${canary.errors} of ${canary.requests} of the canary's responses (${canary.errorPercent} %) were 5xx, above ${s.maxErrorRate} % (live: ${live.errorPercent} %)`
        };
    const canaryTime = timingOf(canary);
    if (canaryTime && s.maxLatencyMs !== undefined && canaryTime.low > s.maxLatencyMs)
        return {
            verdict: 'breached',
            why: `the canary's ${describeTiming(canaryTime)} was ${canaryTime.ms} ms, above watch-max-latency ${s.maxLatencyMs} ms (live: ${msOf(timingOf(live, canaryTime.kind))})`
        };
    const [c, l] = comparable(canary, live);
    if (c && l && s.maxLatencyIncrease !== undefined && live.requests >= MIN_RESPONSES_JUDGED) {
        if (c.low > l.high * (1 + s.maxLatencyIncrease / 100) && c.low - l.high > LATENCY_NOISE_MS)
            return {
                verdict: 'breached',
                why: `the canary's ${describeTiming(c)} was ${c.ms} ms against ${l.ms} ms of the live color, ${Math.round((100 * (c.ms - l.ms)) / Math.max(1, l.ms))} % more, above watch-max-latency-increase ${s.maxLatencyIncrease} %`
            };
    }
    return {
        verdict: 'passed',
        why: `the canary: ${canary.requests} requests, ${canary.errorPercent} % 5xx, ${msOf(canaryTime)}; live: ${live.requests} requests, ${live.errorPercent} % 5xx, ${msOf(timingOf(live, canaryTime?.kind))}`
    };
}
/**
 * The p95 where the proxy logged enough of the window's requests (MIN_RESPONSES_JUDGED), else the
 * window mean; `prefer` 'mean' takes the mean even then (to compare like with like).
 */
function timingOf(f, prefer = 'p95') {
    if (prefer === 'p95' && f.p95Ms !== undefined && (f.p95Of ?? 0) >= MIN_RESPONSES_JUDGED)
        return { kind: 'p95', ms: f.p95Ms, low: f.p95Ms, high: f.p95Ms, of: f.p95Of };
    if (f.responseMs === undefined)
        return undefined;
    const margin = f.responseMarginMs ?? 0;
    return { kind: 'mean', ms: f.responseMs, low: f.responseMs - margin, high: f.responseMs + margin };
}
/**
 * watch-max-latency-increase compares a p95 only with a p95, and only of MIN_P95_COMPARED logged
 * responses each: of fewer it is the slowest few requests of a busy host's step, noise on either
 * side; the means (with their margins) are compared instead.
 */
const MIN_P95_COMPARED = 100;
/** Both colors' p95s when both have enough of them, else both means. */
function comparable(canary, live) {
    const c = timingOf(canary);
    const l = timingOf(live);
    if (c?.kind === 'p95' && l?.kind === 'p95' && c.of >= MIN_P95_COMPARED && l.of >= MIN_P95_COMPARED)
        return [c, l];
    return [timingOf(canary, 'mean'), timingOf(live, 'mean')];
}
function describeTiming(t) {
    return t.kind === 'p95' ? `p95 response time (of ${t.of} requests)` : 'mean response time';
}
function msOf(t) {
    return t === undefined ? 'no response time' : `${t.ms} ms${t.kind === 'p95' ? ' p95' : ' mean'}`;
}

;// CONCATENATED MODULE: ./src/engine/canary-steps.ts




/** How soon a cancel (or another host's breach) is noticed while a step holds. */
const SLICE_MS = 250;
/**
 * Walks the canary through its weights (the first is already set by the exposure). At each step
 * the proxy's per-server counters are read every WATCH_TICK_MS; a breach seen early ends the step
 * at once; otherwise the step is judged when its time is up.
 */
async function walkCanarySteps(run, s, setWeight) {
    const steps = [];
    for (const [i, weight] of s.weights.entries()) {
        if (i > 0)
            await setWeight(weight);
        const report = await holdStep(run, s, weight);
        steps.push(report);
        if (report.verdict === 'aborted')
            return { kind: 'hold', steps, weight, why: `at ${weight} %: ${report.why}` };
        const agreed = await agree(run, report);
        // Several hosts: what another host saw decides here too, and says so.
        const elsewhere = report.verdict === 'failed-elsewhere' || agreed.verdict !== report.verdict;
        if (elsewhere && agreed.why !== report.why)
            report.why = `${report.why}; every host: ${agreed.why}`;
        const why = `at ${weight} %: ${elsewhere ? `${agreed.why}, so every host rolls back` : report.why}`;
        if (agreed.verdict === 'breached')
            return { kind: 'rollback', steps, why };
        if (agreed.verdict === 'low-traffic') {
            const policy = s.lowTraffic;
            run.ctx.log.info(`canary-steps: step ${weight} %: ${agreed.why}; canary-low-traffic is ${policy}`);
            if (policy === 'fail')
                return { kind: 'rollback', steps, why: `at ${weight} %: ${agreed.why} (canary-low-traffic: fail)` };
            if (policy === 'hold')
                return { kind: 'hold', steps, weight, why: `at ${weight} %: ${agreed.why} (canary-low-traffic: hold)` };
        }
    }
    return { kind: 'promote', steps };
}
/** Several hosts: every host's verdict of the step, combined; one host: its own. */
async function agree(run, report) {
    const own = {
        verdict: report.verdict === 'passed' || report.verdict === 'low-traffic' ? report.verdict : 'breached',
        why: report.why,
        ...(report.verdict === 'failed-elsewhere' ? { echo: true } : {})
    };
    if (report.verdict === 'breached')
        run.ctx.deps.onWatchFailed?.(`canary step ${report.weight} %: ${report.why}`);
    if (!run.ctx.deps.afterCanaryStep)
        return own;
    return run.ctx.deps.afterCanaryStep(report.weight, own);
}
/** One step, with the proxy logging each of its requests meanwhile where it can (p95 per color). */
async function holdStep(run, s, weight) {
    const requestLog = new StepRequestLog(run);
    await requestLog.start(weight);
    try {
        const report = await judgeWindow(run, s, weight, requestLog);
        if (requestLog.note && report.verdict !== 'aborted')
            report.why += ` (response times are window means: ${requestLog.note})`;
        return report;
    }
    finally {
        await requestLog.stop();
    }
}
/** The step's window: counters (and logged requests) read at its start, every tick, and at its end; judged early on a breach. */
async function judgeWindow(run, s, weight, requestLog) {
    const { ctx, plan, live } = run;
    const { clock, log } = ctx;
    const liveColor = live.color;
    const window = new StepWindow();
    let readFailures = 0;
    const readCounters = async () => {
        try {
            window.add(await readCounts(run));
        }
        catch (e) {
            if (readFailures++ === 0)
                log.warning(`canary-steps: could not read the proxy's counters: ${e.message}`);
        }
    };
    const sample = () => Promise.all([readCounters(), requestLog.read(window)]);
    const started = clock.now();
    const report = (verdict, why) => ({
        weight,
        ms: clock.now() - started,
        canary: window.figures(plan.color),
        live: window.figures(liveColor),
        verdict,
        why
    });
    log.info(`canary-steps: ${weight} % of new requests to ${plan.color} for ${Math.round(s.stepMs / 1000)} s`);
    await sample();
    for (;;) {
        const abort = ctx.abortReason;
        if (abort)
            return report('aborted', `${abort} during the step`);
        const elsewhere = ctx.deps.watchFailedElsewhere?.();
        if (elsewhere)
            return report('failed-elsewhere', elsewhere);
        const left = s.stepMs - (clock.now() - started);
        if (left <= 0)
            break;
        const until = clock.now() + Math.min(WATCH_TICK_MS, left);
        while (clock.now() < until && !ctx.abortReason && !ctx.deps.watchFailedElsewhere?.())
            await clock.sleep(Math.min(SLICE_MS, until - clock.now()));
        if (ctx.abortReason || ctx.deps.watchFailedElsewhere?.())
            continue;
        await sample();
        const early = judgeStep(window.figures(plan.color), window.figures(liveColor), s, true);
        if (early.verdict === 'breached')
            return report('breached', early.why);
    }
    const judged = judgeStep(window.figures(plan.color), window.figures(liveColor), s);
    if (readFailures > 0 && judged.verdict === 'low-traffic')
        judged.why += ` (the proxy's counters could not be read ${readFailures} times)`;
    const r = report(judged.verdict, judged.why);
    log.info(`canary-steps: step ${weight} %: ${judged.verdict}: ${judged.why}`);
    return r;
}
async function readCounts(run) {
    const counts = run.ctx.router.serverCounts?.bind(run.ctx.router);
    if (!counts)
        throw new ReleaseError({ reason: `The ${run.ctx.router.capabilities.name} router counts no responses per server.` });
    return counts();
}

;// CONCATENATED MODULE: ./src/core/release.ts
const RELEASE_COMMAND_RUNS_KEPT = 20;
/** A conflict between this app's claim and other apps' claims on the same proxy: one sentence, or undefined. */
function routingConflict(app, claim, others) {
    for (const other of others) {
        if (other.app === app || !other.routing || other.routing.proxy !== claim.proxy)
            continue;
        if (!claim.domains.length && !other.routing.domains.length) {
            return `App ${other.app} is already the default server of the proxy ${claim.proxy} (it has no domains), and so would ${app} be: give one of them 'domains'.`;
        }
        const theirs = new Set([...other.routing.domains, ...(other.routing.previewDomains ?? [])].map(d => d.toLowerCase()));
        for (const [input, names] of [
            ['domains', claim.domains],
            ['preview-domains', claim.previewDomains ?? []]
        ]) {
            const taken = names.filter(d => theirs.has(d.toLowerCase()));
            if (taken.length) {
                return `Input '${input}' claims ${taken.join(', ')}, which app ${other.app} already serves on the proxy ${claim.proxy}: remove ${taken.length > 1 ? 'them' : 'it'} from one of the two apps.`;
            }
        }
    }
    return undefined;
}
const LEDGER_SIZE = 10;
function emptyLedger(app) {
    return { version: 1, app, releases: [] };
}
/** The ledger with `release` live: prepended, pending cleared, trimmed to LEDGER_SIZE. */
function withLive(record, release) {
    return {
        version: 1,
        app: record.app,
        releases: [release, ...record.releases.filter(r => r.id !== release.id)].slice(0, LEDGER_SIZE),
        routing: record.routing,
        releaseCommands: record.releaseCommands
    };
}
/** Checks a parsed ledger; returns a reason when it is not one. */
function ledgerProblem(value, app) {
    const r = value;
    if (!r || typeof r !== 'object')
        return 'it is not a JSON object';
    if (r.version !== 1)
        return `its version is ${JSON.stringify(r.version)}, not 1`;
    if (r.app !== app)
        return `it is for app ${JSON.stringify(r.app)}, not ${JSON.stringify(app)}`;
    if (!Array.isArray(r.releases))
        return 'it has no list of releases';
    if (r.canary !== undefined) {
        const c = r.canary;
        if (!c || typeof c !== 'object' || !c.release || typeof c.weight !== 'number')
            return 'its canary is not a release with a weight';
    }
    if (r.preview !== undefined) {
        const p = r.preview;
        if (!p || typeof p !== 'object' || !p.release || typeof p.since !== 'string')
            return 'its preview is not a release with a time';
    }
    if (r.endedCanary !== undefined) {
        const e = r.endedCanary;
        if (!e || (e.color !== 'blue' && e.color !== 'green') || typeof e.at !== 'string')
            return 'its ended canary is not a color with a time';
    }
    const extra = [r.pending, r.canary?.release, r.preview?.release].filter(x => x !== undefined);
    for (const rel of [...r.releases, ...extra]) {
        if (!rel || typeof rel !== 'object')
            return 'a release is not an object';
        if (rel.color !== 'blue' && rel.color !== 'green')
            return `a release has color ${JSON.stringify(rel.color)}`;
        if (typeof rel.image !== 'string' || !rel.image)
            return 'a release has no image';
        if (typeof rel.id !== 'string' || !rel.id)
            return 'a release has no id';
        if (typeof rel.liveSince !== 'string')
            return 'a release has no time';
    }
    return undefined;
}

;// CONCATENATED MODULE: ./src/engine/watch-live.ts







/**
 * watch (issue #12): observes the new, live color. Passing returns (cleanup follows); a failure
 * switches back to the previous release (graceful, as any switch), records it live again and
 * throws with what was seen; a cancel stops watching and leaves the new color live.
 */
async function watchLive(run, record, route, settings) {
    const { ctx, plan, live, release } = run;
    const { config, router, timeline, log } = ctx;
    const deployed = () => resultOf('deployed', release, record.releases);
    const watched = await timeline
        .step('watch', `Watching ${plan.color} for ${Math.round(settings.durationMs / 1000)} s`, async (note) => {
        const w = await watchRelease({
            router,
            route,
            healthPath: config.health.path,
            settings,
            clock: ctx.clock,
            log,
            aborted: () => ctx.abortReason,
            failedElsewhere: ctx.deps.watchFailedElsewhere
        });
        note(w.kind === 'failed' ? w.reason : w.summary);
        if (w.kind === 'failed')
            throw new ReleaseError({ reason: `watch: ${w.reason}` });
        return w;
    })
        .catch((e) => {
        if (e instanceof ReleaseError)
            return { kind: 'failed', reason: e.failure.reason.replace(/^watch: /, '') };
        throw e;
    });
    let failure = watched.kind === 'failed' ? watched.reason : undefined;
    if (watched.kind === 'passed') {
        log.info(`watch: ${plan.image} on ${plan.color} passed: ${watched.summary}.`);
        // Several hosts: every host's watch must pass; one that fails rolls this host back too.
        failure = await ctx.deps.afterWatch?.().then(() => undefined, (e) => e.message);
        if (failure === undefined)
            return;
    }
    if (watched.kind === 'aborted') {
        // The switch is done and verified: a cancel is not a verdict on the release. The containers the
        // new color replaced (set aside, routed nothing) go at once, so the host holds live + standby
        // (issue #22); keep-previous waits for the next run: the cancel grace is short.
        await run.colors
            .retireReplaced(live, plan.color, record.endedCanary, false)
            .catch((e) => log.warning(`Could not remove the replaced ${plan.color} container: ${e.message} (the next run removes it)`));
        throw new ReleaseError({
            reason: `${watched.abortReason} during the watch, after ${Math.round(watched.ms / 1000)} s (${watched.summary}): ${plan.color} (${plan.image}) stays live; a cancelled watch does not roll back.`
        }, deployed());
    }
    const seen = `watch: ${failure}`;
    if (watched.kind === 'failed')
        ctx.deps.onWatchFailed?.(watched.reason);
    log.warning(seen);
    if (!live) {
        throw new ReleaseError({ reason: `${seen}; there is no previous release to roll back to, so ${plan.color} (${plan.image}) stays live.` }, deployed());
    }
    throw await rollBackAfterWatch(run, record, live, seen, deployed);
}
/** The watch failed: back to `live`, recorded live again; returns the error that reports it. */
async function rollBackAfterWatch(run, record, live, seen, deployed) {
    const { ctx, colors, plan, release, serving } = run;
    const back = ctx.routeTo(live);
    await ctx.timeline.step('switch', `Switching back to ${live.color} (the watch failed)`, () => ctx.router.apply(back).catch((e) => {
        throw new ReleaseError({ reason: `${seen}; switching back to ${live.color} failed (${e.message}), so ${plan.color} (${plan.image}) is still live.` }, deployed());
    }));
    const verified = await verifyStep(ctx, back);
    // The proxy routes to the previous release either way: the ledger says so.
    const restored = { ...live, liveSince: ctx.nowIso() };
    const rolled = { ...withLive(record, restored), routing: ctx.claim };
    serving.live = restored;
    serving.releases = rolled.releases;
    await ctx.ledger.write(rolled);
    ctx.log.info(`Rolled back to ${live.image} on ${live.color}: it serves again.`);
    // The new color is now the one that served before: drained, then keep-previous; the containers
    // it had replaced (the old standby) go; its workers stop (the previous ones never did).
    const standby = await ctx.timeline.step('cleanup', 'Cleaning up', async () => {
        const [, kept] = await Promise.all([
            colors.retireReplaced(live, plan.color),
            colors.keepPrevious(release, plan.color),
            colors.retireWorkers(plan.color, live.color)
        ]);
        // keep-previous running keeps what is there: a new color that went down stays down.
        const left = await ctx.host.inspect((0,core_names/* containerName */.xN)(ctx.app, plan.color));
        return kept?.state === 'running' && !left?.running ? { ...kept, state: 'stopped' } : kept;
    });
    const info = await ctx.host.inspect((0,core_names/* containerName */.xN)(ctx.app, live.color));
    const unconfirmed = verified.ok ? '' : ` (the proxy did not confirm it within ${VERIFY_TIMEOUT_MS / 1000} s: ${describeAnswer(verified.last)})`;
    const workers = await colors.workerStates(restored.color);
    return new ReleaseError({ reason: `${seen}: rolled back to ${live.color} (${live.image})${unconfirmed}` }, { ...resultOf('auto-rolled-back', restored, rolled.releases, info?.id, standby), ...(workers.length ? { workers } : {}) });
}

;// CONCATENATED MODULE: ./src/engine/expose-switch.ts







/** The whole app to the new color: a graceful switch, verified through the proxy, then recorded live. */
const switchExposure = {
    kind: 'switch',
    needs: [],
    async expose(run) {
        const { ctx, plan, record, live, release, route, undo } = run;
        // Written before the switch: a run that dies between the switch and the final write is
        // finished by the next one, which finds the proxy already routing to this pending release.
        const ready = run.ready();
        ready.catch(() => undefined); // awaited below, once the pending write's undo is pushed
        await ctx.ledger.write({ ...record, pending: release });
        undo.push('the pending release in the ledger', () => rewriteLedger(ctx, { ...record, pending: undefined }));
        await ready;
        ctx.checkAborted(live);
        // Pushed before the switch: a proxy that dies while it is told may have saved the new route, so
        // a failed switch routes back too. If that fails as well, what it routes to is not known.
        // A first deploy (nothing live) has nothing to route back to: its claim leaves the proxy instead,
        // or its domains (or the default server) would stay taken with no app behind them (issue #22).
        const back = undo.push(`the switch to ${plan.color}`, async () => (live ? routeBack(ctx, live, (0,core_names/* networkName */.uv)(ctx.app)) : withdrawFirst(ctx)), {
            live: undefined,
            why: live
                ? `Routing ${ctx.app} back to ${live.color} failed too, so what the proxy routes to is not known (its saved configuration names ${live.color} or ${plan.color}): both colors' containers were kept, and the next run settles it from the proxy's route.`
                : `Taking ${ctx.app} off the proxy failed too, so the proxy may still route its domains to ${plan.color}: its containers were kept; the next deploy settles it, or mode remove frees the domains.`
        });
        await ctx.timeline.step('switch', `Switching the proxy to ${plan.color}`, () => ctx.router.apply(route).catch((e) => {
            throw new ReleaseError({
                reason: `The proxy could not be switched to ${plan.color}: ${e.message}. ${live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'}`
            });
        }));
        // Switched: if switching back fails, the proxy's configuration names this release. Its
        // containers stay and the ledger keeps it pending, so a restarted proxy serves what the record says.
        back.ifStuck = {
            live: release,
            why: `The proxy's configuration still routes ${ctx.app} to ${plan.color} (${plan.image}), so its containers were kept and the ledger records it as pending; the next run settles it.`
        };
        const backText = async () => {
            const failed = await undo.runNow(back);
            if (!live)
                return failed ? `; taking ${ctx.app} off the proxy failed too (${failed.message})` : ` (nothing was live: ${ctx.app} was taken off the proxy)`;
            return failed ? `; switching back to ${live.color} failed too (${failed.message})` : ` to ${live.color}`;
        };
        const verified = await verifyStep(ctx, route);
        if (!verified.ok) {
            const text = await backText();
            throw new ReleaseError({
                reason: `After the switch the proxy did not answer from ${plan.color} within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(verified.last)}), so it was switched back${text}.`
            });
        }
        if (ctx.deps.afterVerify) {
            await ctx.deps.afterVerify().catch(async (e) => {
                const text = await backText();
                throw new ReleaseError({ reason: `${e.message}; ${plan.color} was switched back${text}.` });
            });
        }
    },
    async settle(run) {
        const { ctx, colors, plan, record, live, release, route, serving } = run;
        // Live from now: drains of the color it replaced count from this moment.
        release.liveSince = ctx.nowIso();
        const updated = { ...withLive(record, release), routing: ctx.claim };
        serving.live = release;
        serving.releases = updated.releases;
        await ctx.ledger.write(updated);
        ctx.log.info(`${plan.image} is live on ${plan.color}.`);
        // watch: the previous color keeps running (keep-previous waits) until the new one has passed it.
        const watch = ctx.config.strategy.watch;
        if (watch && run.kind === 'deploy')
            await watchLive(run, updated, route, watch);
        const standby = await ctx.timeline.step('cleanup', 'Cleaning up', async () => {
            // Both wait out drain times; they overlap rather than add up.
            const [, kept] = await Promise.all([
                colors.retireReplaced(live, plan.color, record.endedCanary),
                colors.keepPrevious(live, (0,core_names/* otherColor */.IP)(plan.color)),
                // The previous workers stop at once: no traffic to drain, and they must not keep taking jobs.
                colors.retireWorkers(live?.color, plan.color)
            ]);
            return kept;
        });
        await confirmServed(ctx, release, (0,core_names/* networkName */.uv)(ctx.app));
        const info = await ctx.host.inspect((0,core_names/* containerName */.xN)(ctx.app, plan.color));
        const result = resultOf(run.kind === 'deploy' ? 'deployed' : 'rolled-back', release, updated.releases, info?.id, standby);
        const workers = await colors.workerStates(release.color);
        return { ...result, ...(workers.length ? { workers } : {}) };
    }
};
/** The undo of a first deploy's switch: the app's claim leaves the proxy (routers that cannot, leave it). */
async function withdrawFirst(ctx) {
    if (!ctx.router.withdraw)
        return;
    if (await ctx.router.withdraw())
        ctx.log.info(`Nothing of ${ctx.app} was live before this run: took it off the proxy again, so its domains are free`);
}

;// CONCATENATED MODULE: ./src/engine/expose-canary-steps.ts








/**
 * canary-steps (issue #24): the canary starts at the first weight as canary-weight does (gated,
 * recorded, verified), then climbs weight by weight, each step judged against the live color from
 * the proxy's counters. Every step passed: a full switch to it (graceful, as any switch). A breach:
 * the live color alone again at once (graceful too), recorded, and the run fails with result
 * auto-rolled-back. Too few requests: canary-low-traffic decides.
 */
function canaryStepsExposure(s) {
    const first = canaryExposure(s.weights[0]);
    return {
        kind: 'canary',
        needs: ['weights', 'stats'],
        input: 'canary-steps',
        expose: run => first.expose(run),
        async settle(run) {
            const { ctx, plan, record, release, route } = run;
            const live = run.live;
            let steps = [];
            const setWeight = async (weight) => {
                await ctx.timeline.step('switch', `Sending ${weight} % of new requests to ${plan.color}`, () => ctx.router.canary(ctx.routeTo(live), route, weight));
                await rewriteLedger(ctx, { ...record, pending: undefined, preview: undefined, canary: { release, weight, since: release.liveSince } });
            };
            const end = await ctx.timeline
                .step('watch', `Canary steps ${s.weights.join(' → ')} %, ${Math.round(s.stepMs / 1000)} s each`, async (note) => {
                const e = await walkCanarySteps(run, s, setWeight);
                steps = e.steps;
                note(e.steps.map(r => `${r.weight} %: ${r.verdict}`).join(', '));
                return e;
            })
                .catch((e) => ({ kind: 'rollback', steps, why: `the canary's weight could not be changed: ${e.message}` }));
            if (end.kind === 'rollback')
                throw await endCanarySteps(run, `canary-steps: ${end.why}`, end.steps);
            if (end.kind === 'hold') {
                const result = await canaryExposure(end.weight).settle(run);
                ctx.log.info(`canary-steps: the canary stays at ${end.weight} %: ${end.why}. mode promote makes it live, mode rollback ends it.`);
                if (ctx.abortReason)
                    throw new ReleaseError({ reason: `canary-steps: ${end.why}: the canary stays at ${end.weight} %; mode promote or rollback ends it.` }, { ...result, canarySteps: steps });
                return { ...result, canarySteps: steps };
            }
            return { ...(await promote(run, steps)), canarySteps: steps };
        }
    };
}
/** Every step passed: the whole app to the canary's color, verified; the switch exposure records and cleans up. */
async function promote(run, steps) {
    const { ctx, plan, route } = run;
    ctx.log.info(`canary-steps: every step passed: switching every new request to ${plan.color}`);
    const switched = await ctx.timeline
        .step('switch', `Promoting ${plan.color}: every new request`, () => ctx.router.apply(route))
        .then(() => undefined, (e) => `the proxy could not be switched to ${plan.color} (${e.message})`);
    if (switched)
        throw await endCanarySteps(run, `canary-steps passed, but ${switched}`, steps);
    const verified = await verifyStep(ctx, route);
    if (!verified.ok)
        throw await endCanarySteps(run, `canary-steps passed, but after the switch the proxy did not answer from ${plan.color} (${describeAnswer(verified.last)})`, steps);
    return switchExposure.settle(run);
}
/** Ends the canary (the live color alone, recorded so), cleans up, and returns the error that reports it. */
async function endCanarySteps(run, why, steps) {
    const { ctx, colors, plan, record, release } = run;
    const live = run.live;
    ctx.log.warning(why);
    const back = await ctx.timeline
        .step('switch', `Ending the canary on ${plan.color}`, () => routeBack(ctx, live, (0,core_names/* networkName */.uv)(ctx.app)))
        .then(() => undefined, (e) => e);
    if (back) {
        return new ReleaseError({
            reason: `${why}; ending the canary failed too (${back.message}), so the proxy may still send a share of new requests to ${plan.color} (${plan.image}): it stays recorded as a canary, mode rollback ends it. ${live.color} (${live.image}) is live.`
        });
    }
    const verified = await verifyStep(ctx, ctx.routeTo(live));
    const updated = { ...record, pending: undefined, preview: undefined, canary: undefined, endedCanary: { color: plan.color, at: ctx.nowIso() } };
    await rewriteLedger(ctx, updated);
    run.serving.live = live;
    const standby = await ctx.timeline.step('cleanup', 'Cleaning up', async () => {
        const [, kept] = await Promise.all([colors.retireReplaced(live, plan.color, record.endedCanary), colors.keepPrevious(release, plan.color)]);
        return kept;
    });
    const info = await ctx.host.inspect((0,core_names/* containerName */.xN)(ctx.app, live.color));
    const unconfirmed = verified.ok ? '' : ` (the proxy did not confirm it: ${describeAnswer(verified.last)})`;
    return new ReleaseError({ reason: `${why}: the canary was ended, ${live.color} (${live.image}) serves every request${unconfirmed}.` }, { ...resultOf('auto-rolled-back', live, updated.releases, info?.id, standby), canarySteps: steps });
}

;// CONCATENATED MODULE: ./src/engine/expose-none.ts


/** app-port none: nothing to route; the release is live once its workers are started and gated. */
const noExposure = {
    kind: 'none',
    needs: [],
    async expose(run) {
        await run.ready();
        if (run.ctx.deps.afterVerify)
            await run.ctx.deps.afterVerify();
    },
    async settle(run) {
        const { ctx, colors, plan, record, live, release, serving } = run;
        release.liveSince = ctx.nowIso();
        const updated = withLive(record, release);
        serving.live = release;
        serving.releases = updated.releases;
        await ctx.ledger.write(updated);
        ctx.log.info(`${plan.image} is live on ${plan.color} (workers only).`);
        await ctx.timeline.step('cleanup', 'Stopping the previous workers', () => colors.retireWorkers(live?.color, plan.color));
        const states = await colors.inspect(updated.releases);
        const result = resultOf(run.kind === 'deploy' ? 'deployed' : 'rolled-back', release, updated.releases, undefined, standbyOf(updated.releases, states));
        const workers = await colors.workerStates(release.color);
        return { ...result, ...(workers.length ? { workers } : {}) };
    }
};

;// CONCATENATED MODULE: ./src/core/preview.ts
/**
 * The address a waiting preview is reached at (output preview-url): the first preview domain, with
 * the scheme the proxy serves it with (https with tls on) and the port when it is not the default.
 * Behind an edge (proxy-port none) the edge's own ports serve it: no port.
 */
function previewUrlOf(proxy) {
    const host = proxy.previewDomains?.[0];
    if (!host)
        return undefined;
    const https = proxy.tls !== undefined && proxy.tls.mode !== 'off';
    if (proxy.unpublished)
        return `${https ? 'https' : 'http'}://${host.toLowerCase()}`;
    const port = https ? proxy.tls.httpsPort : proxy.port;
    return `${https ? 'https' : 'http'}://${host.toLowerCase()}${port === (https ? 443 : 80) ? '' : `:${port}`}`;
}

;// CONCATENATED MODULE: ./src/engine/expose-preview.ts






function previewState(ctx, preview) {
    const url = previewUrlOf(ctx.config.proxy);
    return { color: preview.release.color, image: preview.release.image, since: preview.since, ...(url ? { url } : {}) };
}
/**
 * promote manual: the gated new color is left waiting, recorded as the preview, the preview
 * domains routed to it, the live color serving every request as before.
 */
const previewExposure = {
    kind: 'preview',
    needs: ['preview'],
    input: 'promote',
    async expose(run) {
        const { ctx, plan, record, release, route, undo } = run;
        const live = run.live;
        await run.ready();
        const preview = ctx.router.preview.bind(ctx.router);
        const liveRoute = ctx.routeTo(live);
        release.liveSince = ctx.nowIso();
        // Recorded before the proxy learns of it: a run that dies here leaves a preview the next run promotes, discards or replaces.
        await ctx.ledger.write({ ...record, pending: undefined, canary: undefined, preview: { release, since: release.liveSince }, routing: ctx.claim });
        // What was recorded before this run (a preview this one would have replaced is back with its containers).
        undo.push('the preview record', () => rewriteLedger(ctx, { ...record, pending: undefined }));
        const domains = ctx.config.proxy.previewDomains ?? [];
        undo.push(`the preview routing to ${plan.color}`, () => routeBack(ctx, live, (0,core_names/* networkName */.uv)(ctx.app)), {
            live,
            why: `The preview domains may still reach ${plan.color} (${plan.image}), so its containers were kept and the preview stays recorded: mode rollback discards it.`
        });
        await ctx.timeline.step('switch', domains.length ? `Routing ${domains.join(', ')} to ${plan.color}` : `Keeping ${live.color} live`, () => preview(liveRoute, route).catch((e) => {
            throw new ReleaseError({
                reason: `The proxy could not route the preview to ${plan.color}: ${e.message}. ${live.color} (${live.image}) is still live.`
            });
        }));
        const verified = await verifyStep(ctx, liveRoute);
        if (!verified.ok)
            throw new ReleaseError({
                reason: `After routing the preview the proxy did not answer from ${live.color} within ${VERIFY_TIMEOUT_MS / 1000} s (last answer: ${describeAnswer(verified.last)}).`
            });
        if (ctx.deps.afterVerify)
            await ctx.deps.afterVerify();
    },
    async settle(run) {
        const { ctx, colors, plan, record, release } = run;
        const live = run.live;
        const state = previewState(ctx, { release, since: release.liveSince });
        ctx.log.info(`${plan.image} on ${plan.color} is healthy and waits for mode promote${state.url ? `; preview it at ${state.url}` : ' (no preview-domains reach it)'}. ${live.image} on ${live.color} still serves every request; mode rollback discards the preview.`);
        // The containers the preview replaced (the old standby, or an earlier preview) go after their drain; the live color stays as it is.
        await ctx.timeline.step('cleanup', 'Cleaning up', () => colors.retireReplaced(live, plan.color, record.endedCanary));
        const info = await ctx.host.inspect((0,core_names/* containerName */.xN)(ctx.app, plan.color));
        return { ...resultOf('preview', release, record.releases, info?.id), previousColor: live.color, previousImage: live.image, preview: state };
    }
};

;// CONCATENATED MODULE: ./src/engine/endings.ts





/** Ends what waits beside the live release without going live: a canary, or a preview. */
/** mode rollback during a canary: the live color alone again; the canary's color gets keep-previous after its drain. */
async function endCanary(ctx, colors, record, live) {
    const { host, router, ledger, timeline, log } = ctx;
    const canary = record.canary;
    await ctx.deps.onPlanned?.({ color: live.color, image: live.image, from: { color: canary.release.color, image: canary.release.image }, restores: live });
    const network = (0,core_names/* networkName */.uv)(ctx.app);
    await host.ensureNetwork(network, { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.app]: ctx.app });
    await router.ensure(network);
    const route = ctx.routeTo(live);
    // Recorded before the proxy is told, and put back if it refuses: the ledger never names a canary the proxy no longer routes.
    const updated = { ...record, pending: undefined, canary: undefined, endedCanary: { color: canary.release.color, at: ctx.nowIso() } };
    await ledger.write(updated);
    await timeline.step('switch', `Ending the canary on ${canary.release.color}`, () => router.apply(route).catch(async (e) => {
        await rewriteLedger(ctx, record);
        throw new ReleaseError({
            reason: `The proxy could not end the canary on ${canary.release.color}: ${e.message}. It still sends ${canary.weight} % of new requests there.`
        });
    }));
    const verified = await verifyStep(ctx, route);
    if (!verified.ok)
        throw new ReleaseError({ reason: `After ending the canary the proxy did not answer from ${live.color} (last answer: ${describeAnswer(verified.last)}).` });
    log.info(`Ended the canary of ${canary.release.image} on ${canary.release.color}: ${live.image} on ${live.color} serves every new request.`);
    // Its drain counts from now: keep-previous applies to the canary's color as to a replaced live color.
    const standby = await timeline.step('cleanup', 'Cleaning up', () => colors.keepPrevious(canary.release, canary.release.color));
    const info = await host.inspect((0,core_names/* containerName */.xN)(ctx.app, live.color));
    return resultOf('rolled-back', live, updated.releases, info?.id, standby);
}
/** mode rollback while a preview waits: its containers go; the live release and the proxy's routing of it are untouched. */
async function discardPreview(ctx, colors, record, live) {
    const { ledger, timeline, log, config } = ctx;
    const preview = record.preview.release;
    await timeline.step('cleanup', `Discarding the preview on ${preview.color}`, async (note) => {
        note(`${await colors.discard(preview)} container(s) removed`);
    });
    const updated = { ...record, pending: undefined, preview: undefined, routing: ctx.claim };
    await ledger.write(updated);
    log.info(`Discarded the preview of ${preview.image} on ${preview.color} (its containers are removed${config.proxy.previewDomains?.length ? '; the preview domains answer 503 until the next preview' : ''}). ${live.image} on ${live.color} stays live, untouched.`);
    const info = await ctx.host.inspect((0,core_names/* containerName */.xN)(ctx.app, live.color));
    const states = await colors.inspect(updated.releases);
    return { ...resultOf('rolled-back', live, updated.releases, info?.id, standbyOf(updated.releases, states)), previewEnded: 'discarded' };
}

;// CONCATENATED MODULE: ./src/engine/ledger-guard.ts



/** Where the ledger is, as the user finds it (host/ledger-file.ts's ledgerPath, under the SSH user's home). */
function ledgerWhere(app) {
    return `~/.cutover/apps/${app}/releases.json`;
}
/** The app's containers (or services) that cutover made (its labels, not its names: a look-alike is not one of them). */
function cutoverContainers(app, containers) {
    return containers.filter(c => c.labels[core_names/* LABEL */.d_.managed] === 'true' && c.labels[core_names/* LABEL */.d_.app] === app);
}
/**
 * Roles that are no release of the app: the shared services (started before a release, they stay
 * when it fails), a swarm app's own proxy and its switch helper, a release command's run.
 */
const NOT_A_RELEASE = new Set(['shared', 'proxy', 'proxy-switch', 'release-command']);
/** `<app>-<color>[-N]-failed` or `<app>-<color>-worker-<name>-failed`: a container that failed its gate, kept with keep-failed. */
function isKeptFailed(app, unit) {
    if (!unit.name.endsWith('-failed'))
        return false;
    const base = unit.name.slice(0, -'-failed'.length);
    const worker = unit.labels[core_names/* LABEL */.d_.worker];
    return core_names/* COLORS */.lm.some(color => (worker ? base === (0,core_names/* workerName */.ig)(app, color, worker) : (0,core_names/* replicaOf */.ko)(app, color, base) !== undefined));
}
/**
 * What shows that a release of the app went out: cutover's containers or services of it, but not
 * what a first deploy that failed leaves behind (shared services, a swarm app's proxy, containers
 * kept with keep-failed, a service it scaled to 0), so that deploy can simply run again.
 */
function releaseEvidence(app, units) {
    return cutoverContainers(app, units).filter(u => !NOT_A_RELEASE.has(u.labels[core_names/* LABEL */.d_.role] ?? '') && !isKeptFailed(app, u) && u.service?.replicas !== 0);
}
/** Why a missing ledger must stop the run (a release of the app went out), or undefined for a real first deploy. */
function missingLedgerProblem(app, appUnits) {
    const ours = releaseEvidence(app, appUnits);
    if (!ours.length)
        return undefined;
    const what = ours.some(u => u.service) ? 'services' : 'containers';
    const names = ours.map(c => `${c.name} (${c.state})`).sort();
    const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ');
    return (`The release ledger ${ledgerWhere(app)} is missing on the host, but cutover's ${what} for ${app} exist: ${shown}. ` +
        `It was deleted, or this run connects as another SSH user (with another home) than the runs that deployed them${what === 'services' ? ', or to another manager of the swarm (the ledger is on the manager they deployed through)' : ''}. ` +
        `cutover stops rather than plan a first deploy over the live color and lose the rollback history; nothing was changed, and what was live still serves. ` +
        `To recover: connect as the SSH user that deployed ${app}${what === 'services' ? ', on that manager' : ''}, or run mode status with rebuild-ledger: true to rebuild the ledger from the ${what}' labels and the proxy's route.`);
}
function colorFound(app, color, ours) {
    const ofColor = ours.filter(c => c.labels[core_names/* LABEL */.d_.color] === color && c.labels[core_names/* LABEL */.d_.role] !== 'release-command');
    // The color's own containers: `<app>-<color>`, `<app>-<color>-N`; not a `-replaced` or `-failed` one, never live as such.
    const web = ofColor.filter(c => c.labels[core_names/* LABEL */.d_.role] !== 'worker' && (0,core_names/* replicaOf */.ko)(app, color, c.name) !== undefined);
    const first = web.find(c => c.name === (0,core_names/* containerName */.xN)(app, color)) ?? ofColor.find(c => c.labels[core_names/* LABEL */.d_.role] === 'worker');
    if (!first || !first.labels[core_names/* LABEL */.d_.release] || !first.labels[core_names/* LABEL */.d_.image])
        return undefined;
    const same = web.filter(c => c.labels[core_names/* LABEL */.d_.release] === first.labels[core_names/* LABEL */.d_.release]);
    return {
        color,
        image: first.labels[core_names/* LABEL */.d_.image],
        instance: first.labels[core_names/* LABEL */.d_.release],
        configHash: first.labels[core_names/* LABEL */.d_.configHash] ?? '',
        startedAt: first.labels[core_names/* LABEL */.d_.deployedAt] ?? '',
        // A service stands for its tasks; a standby scaled to 0 was last seen with 1 or more (not known: 1).
        replicas: Math.max(1, first.service ? (first.service.replicas ?? 1) : same.length),
        running: (same.length ? same : [first]).every(c => c.state === 'running'),
        web: first.labels[core_names/* LABEL */.d_.role] !== 'worker'
    };
}
function releaseOf(app, found, id) {
    return {
        id,
        instance: found.instance,
        app,
        color: found.color,
        image: found.image,
        configHash: found.configHash,
        kind: 'deploy',
        ...(found.replicas > 1 ? { replicas: found.replicas } : {}),
        // The switch time is on no container: its start time is the nearest known.
        liveSince: found.startedAt,
        by: {},
        ...(found.web ? {} : { web: false })
    };
}
/**
 * A ledger rebuilt from the app's containers and the proxy's route. The live release is the color
 * the proxy routes to (with the release id it reports); without a route, the one color whose
 * containers run. The previous release is the other color, when it was started before the live
 * one (one started after it never went live: a preview, a canary). Throws when the live color
 * cannot be told.
 */
function rebuildLedger(app, containers, routed) {
    const ours = cutoverContainers(app, containers);
    const colors = core_names/* COLORS */.lm.map(c => colorFound(app, c, ours)).filter((c) => c !== undefined);
    if (!colors.length)
        throw new LedgerError(`No container or service of ${app} carries cutover's labels: there is nothing to rebuild the ledger from (a first deploy starts a new one).`);
    const running = colors.filter(c => c.running);
    const live = routed ? colors.find(c => c.color === routed.color) : running.length === 1 ? running[0] : undefined;
    if (!live) {
        const why = routed
            ? `the proxy routes ${app} to ${routed.color}, which has no container of ${app}`
            : `the proxy has no route for ${app} and ${running.length ? 'both colors run' : 'no color runs'}`;
        throw new LedgerError(`Cannot tell which release of ${app} is live (${why}), so the ledger was not rebuilt. Nothing was changed.`);
    }
    const releases = [releaseOf(app, live, routed?.releaseId ?? live.instance)];
    const other = colors.find(c => c.color !== live.color);
    if (other && other.startedAt && live.startedAt && other.startedAt < live.startedAt && other.instance !== live.instance) {
        releases.push(releaseOf(app, other, other.instance));
    }
    return { version: 1, app, releases: releases.slice(0, LEDGER_SIZE) };
}
/** What a rebuilt ledger holds, in one sentence for the log and the summary. */
function describeRebuilt(record, routed) {
    const [live, previous] = record.releases;
    const how = routed ? 'the color the proxy routes to, with the release id it reports' : 'the only color whose containers run (the proxy has no route)';
    const before = previous
        ? `; previous: ${previous.color} ${previous.image} (release ${previous.id}), what mode rollback goes back to`
        : '; no previous release could be inferred (the other color has no container started before the live one), so mode rollback needs to-image';
    return (`Rebuilt the release ledger of ${record.app}: live ${live.color} ${live.image} (release ${live.id}), ${how}${before}. ` +
        `Not known from containers, so not recorded: older releases, image digests, authors, switch times (their start times stand in) and worker commands.`);
}
/**
 * mode status with rebuild-ledger: rebuilds the ledger when it is missing, writes it, and returns
 * what was rebuilt. A ledger that is there is left alone (move a damaged one away first).
 */
async function rebuildMissingLedger(deps, app, routing) {
    if (await deps.ledger.read()) {
        throw new LedgerError(`rebuild-ledger: the release ledger ${ledgerWhere(app)} is there and readable, so it was not rebuilt. Nothing was changed. To rebuild it anyway, move it away first.`);
    }
    const [containers, routed] = await Promise.all([deps.host.listAppUnits(app), deps.router?.current()]);
    const record = rebuildLedger(app, containers, routed);
    await deps.ledger.write(routing ? { ...record, routing } : record);
    const text = describeRebuilt(record, routed !== undefined);
    deps.log.info(text);
    return text;
}

;// CONCATENATED MODULE: ./src/engine/lazy.ts
/** Work started by whichever step needs it first, then shared; a way out waits for it only if it started. */
class Lazy {
    start;
    made;
    constructor(start) {
        this.start = start;
    }
    /** Starts it on the first call; every call gets the same promise. */
    get() {
        if (!this.made) {
            this.made = this.start();
            this.made.catch(() => undefined); // awaited by whoever asked; this only keeps an early exit from leaving it unhandled
        }
        return this.made;
    }
    /** Once what was started settled, whatever its outcome (at once when nothing started). */
    async settled() {
        await this.made?.catch(() => undefined);
    }
}

;// CONCATENATED MODULE: ./src/engine/host-state.ts







/**
 * The ledger, with an interrupted switch settled: a pending release the proxy already routes to
 * went live; any other pending release never did. A host deployed before the ledger existed is
 * read from what the router recorded then.
 */
async function readLedger(ctx) {
    const { ledger, router, log } = ctx;
    let record = await ledger.read();
    if (!record) {
        record = (ctx.web ? await router.legacyRecord?.() : undefined) ?? emptyLedger(ctx.app);
        if (record.releases.length)
            log.info(`Imported the live release of ${ctx.app} from the proxy's route (recorded before the ledger existed)`);
        // No ledger while a release of the app runs (ledger-guard.ts says what counts): stop, never a "first deploy" over the live color.
        const missing = record.releases.length ? undefined : missingLedgerProblem(ctx.app, await ctx.host.listAppUnits(ctx.app));
        if (missing)
            throw new LedgerError(missing);
    }
    if (record.pending) {
        const routed = await router.current();
        // A router that switches at run time before it saves the route may serve the pending release
        // on its old saved route (the run died in between): it went live, and the route is put right below.
        const served = routed?.releaseId === record.pending.id || (await router.served?.().catch(() => undefined)) === record.pending.id;
        if (served) {
            log.info(`An interrupted run had switched to ${record.pending.color} (${record.pending.image}): recording it as live`);
            record = withLive(record, record.pending);
        }
        else {
            log.info(`An interrupted run never switched to ${record.pending.color} (${record.pending.image}): forgetting it`);
            record = { ...record, pending: undefined };
        }
    }
    return record;
}
/**
 * The proxy must route to what the ledger says is live (a route changed by hand, a proxy whose
 * saved configuration is older than the ledger): a mismatch is put right before anything else
 * changes on the proxy, and said, when the live release's containers run; otherwise it is said and
 * left to the release.
 */
async function repairRouting(ctx, live, containers, routing) {
    const routed = await routing;
    if (!routed || routed.releaseId === live.id)
        return;
    const state = containers.find(c => c.color === live.color);
    const runs = !!state?.running && isContainerOf(state, live);
    const seen = `The proxy routes ${ctx.app} to ${routed.color} (release ${routed.releaseId}), but the ledger records ${live.color} (${live.image}, release ${live.id}) as live`;
    if (!runs) {
        ctx.log.warning(`${seen}, whose containers do not run: left for this run's switch to settle.`);
        return;
    }
    ctx.log.warning(`${seen}: routing it back to ${live.color} before anything else changes on the proxy.`);
    // A proxy that is down cannot take it now: the prepare step starts it again, and the switch settles the route.
    await ctx.router.apply(ctx.routeTo(live)).catch((e) => ctx.log.warning(`Could not route ${ctx.app} back to ${live.color} yet: ${e.message}`));
}
/**
 * The inspect step of a deploy or rollback: the ledger settled, the inputs checked against what
 * the host has and what other apps claim, what an interrupted run left put right, and both colors
 * read. Nothing is changed on the host unless an earlier run left something half-done. `onChecked`
 * is called once the inputs passed those checks; `onRecord` with the settled ledger, once read.
 */
async function inspectForRelease(ctx, colors, plainRollback = false, onChecked, onRecord) {
    const { host, config, log, timeline } = ctx;
    return timeline.step('inspect', 'Reading the state of the host', async (note) => {
        // The app's containers are read beside the ledger (they do not depend on it). So is the proxy's
        // route for a rollback: it switches to a color that runs already, and that read is the slowest
        // one before its switch (a deploy's boot and gate cover it later).
        colors.readAhead?.();
        const routed = plainRollback && ctx.web ? ctx.router.current() : undefined;
        routed?.catch(() => undefined); // awaited by the route's repair, which reports it
        try {
            const [record, missing, claims] = await Promise.all([readLedger(ctx), host.missingNetworks(externalNetworks(config)), ctx.ledger.claims()]);
            // Known from here: a refusal below still reports what is live.
            onRecord?.(record);
            refuseAgainstHost(ctx, record, missing, claims, plainRollback);
            const live = record.releases[0];
            // Nothing refused: what does not depend on the rest of this step may start (a deploy's pull).
            onChecked?.();
            // Recovering containers never changes a route: it is compared once they are read.
            await colors.recover(live, record.preview?.release);
            const containers = await colors.inspect(record.releases);
            const routing = new Lazy(async () => {
                if (live && ctx.web)
                    return repairRouting(ctx, live, containers, routed ?? ctx.router.current());
                await routed?.catch(() => undefined);
            });
            note(live ? `${live.color} live (${live.image})` : 'nothing deployed yet');
            log.info(live ? `Live: ${live.color} ${live.image}` : `No deploy of ${ctx.app} is recorded on this host yet.`);
            return { record, live, containers, routing };
        }
        catch (e) {
            // A refusal ends the run only once the read it started has its answer.
            await routed?.catch(() => undefined);
            throw e;
        }
    });
}
/** The inputs checked against what the host has and what other apps claim: a ReleaseError saying what to change, before anything changes. */
function refuseAgainstHost(ctx, record, missing, claims, plainRollback) {
    if (missing.length) {
        throw new ReleaseError({
            reason: `Input 'networks' names ${missing.join(', ')}, which the host does not have: create ${missing.length > 1 ? 'them' : 'it'} first (docker network create NAME). Nothing was changed.`
        });
    }
    // A rollback with nothing recorded routes nothing (the plan says why): no claim to check.
    const claiming = ctx.web && !(plainRollback && !record.releases.length);
    const conflict = claiming ? routingConflict(ctx.app, ctx.claim, claims) : undefined;
    if (conflict)
        throw new ReleaseError({ reason: `${conflict} Nothing was changed.` });
    const live = record.releases[0];
    if (!ctx.web && live && live.web !== false) {
        throw new ReleaseError({
            reason: `Input 'app-port' is none, but the live release of ${ctx.app} (${live.image}) has a web role behind the proxy: cutover does not take a web role away. Deploy the workers under another app name, or remove ${ctx.app}'s containers first. Nothing was changed.`
        });
    }
}

;// CONCATENATED MODULE: ./src/engine/release-command.ts
/**
 * The release command (the Heroku "release phase"): a one-off container of the new image, with
 * the app's env, volumes and networks, run to completion before anything is switched.
 */





/** How many of its last lines a failed command's error shows. */
const TAIL_LINES = 30;
/** Same image, same command, same settings: the same release command (what makes a retried run skip it). */
function releaseCommandKey(imageId, command, settingsHash) {
    return (0,external_node_crypto_.createHash)('sha256').update(JSON.stringify({ imageId, command, settingsHash })).digest('hex').slice(0, 24);
}
/**
 * Runs the release command of `image` unless it already succeeded for this image, command and
 * settings (recorded in the ledger, so a retried run does not migrate twice). Returns the ledger
 * record as it is afterwards; throws ReleaseError when it fails, times out or is aborted; its
 * container is removed in every case.
 */
async function runReleaseCommand(deps, record, image, stillLive) {
    const { config, host, log, clock } = deps;
    const settings = config.releaseCommand;
    if (!settings)
        return record;
    const shown = settings.command.join(' ');
    const key = releaseCommandKey(image.id, settings.command, configHash(config.container, config.health.port));
    const done = record.releaseCommands?.find(r => r.key === key);
    if (done) {
        log.info(`The release command (${shown}) already succeeded for ${image.ref} with these settings at ${done.ranAt}: not running it again`);
        return record;
    }
    const name = (0,core_names/* releaseCommandName */.ML)(config.app);
    // A run that died mid-command may have left its container.
    await host.remove(name);
    const spec = containerSpec({
        app: config.app,
        color: 'blue',
        image: image.ref,
        network: deps.network,
        // A one-off: not a service of a color's compose project (no compose labels, no color network).
        settings: { ...config.container, composeService: undefined },
        appPort: config.health.port,
        releaseId: '',
        startedAt: new Date(clock.now()).toISOString(),
        run: deps.run
    });
    const labels = { ...spec.labels, [core_names/* LABEL */.d_.role]: 'release-command' };
    delete labels[core_names/* LABEL */.d_.color];
    const tail = [];
    const started = clock.now();
    let code;
    try {
        await host.create({ ...spec, name, command: settings.command, labels });
        await host.start(name);
        code = await deps.output(`Release command: ${shown}`, print => host.waitExit(name, settings.timeoutMs, line => {
            print(line);
            tail.push(line);
            if (tail.length > TAIL_LINES)
                tail.shift();
        }, deps.abort));
    }
    finally {
        // Removing kills it first: nothing of the command outlives its step.
        await host.remove(name).catch(e => log.warning(`Could not remove ${name}: ${e.message}`));
    }
    const seconds = Math.round((clock.now() - started) / 1000);
    if (code === undefined) {
        const why = deps.abortReason() ?? `it did not finish within ${Math.round(settings.timeoutMs / 1000)} s (release-timeout), so it was killed`;
        throw new ReleaseError({ reason: `The release command (${shown}) did not complete: ${why}. ${stillLive}`, logs: tail.join('\n'), container: name });
    }
    if (code !== 0) {
        throw new ReleaseError({
            reason: `The release command (${shown}) exited with code ${code} after ${seconds} s. ${stillLive}`,
            logs: tail.join('\n'),
            container: name,
            exitCode: code
        });
    }
    log.info(`The release command succeeded in ${seconds} s`);
    const updated = {
        ...record,
        releaseCommands: [{ key, image: image.ref, ranAt: new Date(clock.now()).toISOString() }, ...(record.releaseCommands ?? [])].slice(0, RELEASE_COMMAND_RUNS_KEPT)
    };
    await deps.ledger.write(updated);
    return updated;
}

;// CONCATENATED MODULE: ./src/engine/shared-services.ts
/**
 * Shared services of a compose project (a database, a queue): one container `<app>-<service>`
 * each, outside the colors (compose project `<app>`), found by its compose service name on the
 * app's networks. Started once and not replaced by a deploy: doubling a database per color is what
 * they exist to avoid. One whose image or settings changed is kept, with a warning, unless
 * `compose-shared-update: recreate` asks for it to be stopped and created again.
 */





function sharedName(app, service) {
    return `${app}-${service}`;
}
function sharedHash(s) {
    return (0,external_node_crypto_.createHash)('sha256').update(JSON.stringify(s)).digest('hex').slice(0, 16);
}
const shared_services_POLL_MS = 500;
/**
 * Makes sure each shared service runs, in depends_on order, and waits for it: healthy when it has
 * a healthcheck (within health-timeout), else running. A service found with other settings than
 * the compose file now says is left as it is, with a warning.
 */
async function ensureShared(deps) {
    const { config, host, log } = deps;
    const notes = [];
    for (const s of config.shared ?? []) {
        const name = sharedName(config.app, s.name);
        const hash = sharedHash(s);
        let found = await host.inspect(name);
        const changed = found && found.labels[core_names/* LABEL */.d_.configHash] !== hash ? changeOf(found.labels[core_names/* LABEL */.d_.image], s.image) : undefined;
        if (found && changed) {
            if (config.compose?.sharedUpdate === 'recreate') {
                // SIGTERM first, with worker-stop-timeout, so a database shuts down cleanly; its named volumes keep the data.
                log.warning(`Recreating the shared service ${name} (${changed}), as compose-shared-update: recreate asks: it is stopped until the new one is up`);
                await host.setRestartPolicy(name, { Name: 'no' }).catch(() => undefined);
                await host.stop(name, Math.ceil((config.roles?.stopTimeoutMs ?? 30_000) / 1000));
                await host.remove(name);
                found = undefined;
                notes.push(`${name} recreated (${changed})`);
            }
            else {
                log.warning(`The shared service ${name} differs from the compose file (${changed}) and was NOT replaced: shared services are kept by a deploy (compose-shared-update: keep). To replace it, deploy once with compose-shared-update: recreate (it is stopped and created again; its named volumes keep their data), or remove the container (docker rm -f ${name}) before the next deploy.`);
                notes.push(`⚠️ ${name} differs from the compose file (${changed}): kept, not replaced (compose-shared-update: recreate replaces it)`);
            }
        }
        if (!found) {
            if (!(await host.image(s.image)))
                await host.pull(s.image, progressOf(log));
            await host.create(specOf(deps, s, name, hash));
            await host.start(name);
            log.info(`Started the shared service ${name} (${s.image})`);
        }
        else if (!found.running) {
            await host.start(name);
            log.info(`Started the stopped shared service ${name}`);
        }
        await gate(deps, name, !found || !found.running);
        if (!found && config.container.restart.Name !== 'no')
            await host.setRestartPolicy(name, config.container.restart);
    }
    if (notes.length)
        deps.note?.(notes.join('; '));
}
/** What changed in a shared service, in words. */
function changeOf(runningImage, image) {
    return runningImage && runningImage !== image ? `image ${runningImage} → ${image}` : 'other settings';
}
function specOf(deps, s, name, hash) {
    const { config } = deps;
    return {
        name,
        image: s.image,
        env: s.env,
        command: s.command,
        labels: {
            ...s.labels,
            // `docker compose -p <app> ps` lists the shared services: they belong to no color.
            ...composeLabels(config.app, undefined, s.name),
            [core_names/* LABEL */.d_.managed]: 'true',
            [core_names/* LABEL */.d_.app]: config.app,
            [core_names/* LABEL */.d_.role]: 'shared',
            [core_names/* LABEL */.d_.image]: s.image,
            [core_names/* LABEL */.d_.run]: deps.run,
            [core_names/* LABEL */.d_.deployedAt]: new Date(deps.clock.now()).toISOString(),
            [core_names/* LABEL */.d_.configHash]: hash
        },
        network: deps.network,
        extraNetworks: s.networks,
        volumes: s.volumes,
        memoryBytes: s.memoryBytes,
        nanoCpus: s.nanoCpus,
        healthcheck: s.healthcheck,
        aliases: [s.name]
    };
}
/** Healthy by its healthcheck; without one, running (for worker-min-uptime when this run started it). */
async function gate(deps, name, startedNow) {
    const { host, clock, config, log } = deps;
    const started = clock.now();
    let last = '';
    for (;;) {
        const abort = deps.aborted();
        if (abort)
            throw new ReleaseError({ reason: `${abort}: stopped while starting the shared service ${name}; nothing was switched.` });
        const info = await host.inspect(name);
        const fail = async (why, exitCode) => {
            const logs = await host.logs(name, 30).catch(e => `(logs unavailable: ${e.message})`);
            throw new ReleaseError({ reason: `The shared service ${name} ${why}. Nothing was switched.`, logs, container: name, exitCode });
        };
        if (!info)
            return fail('disappeared');
        if (info.status === 'exited' || info.status === 'dead')
            return fail(`exited with code ${info.exitCode}`, info.exitCode);
        const health = info.health?.status;
        if (health === 'unhealthy')
            return fail(`is unhealthy (last check exited ${info.health?.lastExitCode}: ${(info.health?.lastOutput ?? '').trim().slice(0, 200)})`);
        if (health && health !== last) {
            log.info(`${name}: Docker HEALTHCHECK ${health}`);
            last = health;
        }
        if (health === 'healthy')
            return;
        const minUptime = config.roles?.minUptimeMs ?? 0;
        if (!health && (!startedNow || clock.now() - started >= minUptime))
            return;
        if (clock.now() - started >= config.health.timeoutMs)
            return fail(`did not become healthy within ${Math.round(config.health.timeoutMs / 1000)} s (health-timeout)`);
        await clock.sleep(health ? shared_services_POLL_MS : Math.max(1, Math.min(shared_services_POLL_MS, started + minUptime - clock.now())));
    }
}

;// CONCATENATED MODULE: ./src/engine/prepare.ts








/** compose-shared-services: running (and healthy) before anything of the release starts. */
async function startShared(ctx, networkReady, network) {
    await networkReady;
    await ctx.timeline.step('shared', 'Starting the shared services', note => ensureShared({ note, config: ctx.config, host: ctx.host, log: ctx.log, clock: ctx.clock, network, run: ctx.deps.run, aborted: () => ctx.abortReason }));
}
/** Runs the release command (unless it already succeeded for this release); returns the ledger record as updated. */
async function runReleaseCommandStep(ctx, record, image, live) {
    const { config, ledger, log, timeline } = ctx;
    const stillLive = live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.';
    const updated = await timeline.step('release-command', 'Running the release command', () => runReleaseCommand({
        config,
        host: ctx.host,
        ledger,
        log,
        clock: ctx.clock,
        network: (0,core_names/* networkName */.uv)(ctx.app),
        run: ctx.deps.run,
        output: ctx.deps.output ?? ((title, body) => log.group(title, () => body(line => log.info(line)))),
        abort: ctx.signal,
        abortReason: () => ctx.abortReason
    }, record, image, stillLive));
    ctx.checkAborted(live);
    return updated;
}
async function loadArchive(ctx, image, path, bytes) {
    const { host, log, timeline } = ctx;
    return timeline.step('pull', `Loading ${image} from the image archive (${(bytes / 1e6).toFixed(1)} MB)`, async (note) => {
        try {
            await host.load(path, bytes, progressOf(log));
        }
        catch (e) {
            throw new ReleaseError({ reason: `Loading the image archive ${path} into the host's Docker failed: ${e.message}` });
        }
        const loaded = await host.image(image);
        if (!loaded)
            throw new ReleaseError({ reason: `The image archive ${path} was loaded, but the host has no image ${image} afterwards` });
        note(`loaded ${(bytes / 1e6).toFixed(1)} MB over SSH`);
        return loaded;
    });
}
/** Progress lines an early pull keeps until its step shows them (the last ones, if a pull says more). */
const EARLY_PROGRESS_LINES = 200;
/**
 * A pull started while the host is still being read: a deploy's image does not depend on what the
 * inspect step finds, so the registry round trips overlap it. Its progress waits for the pull step,
 * whose log group shows it.
 */
class EarlyPull {
    image;
    result;
    early = [];
    sink;
    constructor(host, image) {
        this.image = image;
        this.result = host.pull(image, line => {
            if (this.sink)
                return this.sink(line);
            this.early.push(line);
            if (this.early.length > EARLY_PROGRESS_LINES)
                this.early.shift();
        });
        // Awaited by the pull step; a run that stops before it has nothing to report about it.
        this.result.catch(() => undefined);
    }
    /** The lines so far, then every later one, go to `sink`. */
    follow(sink) {
        for (const line of this.early.splice(0))
            sink(line);
        this.sink = sink;
        return this.result;
    }
}
async function pullFor(ctx, image, kind, early) {
    const { host, log, timeline } = ctx;
    return timeline.step('pull', `Pulling ${image}`, async (note) => {
        try {
            return await (early?.image === image ? early.follow(progressOf(log)) : host.pull(image, progressOf(log)));
        }
        catch (e) {
            // A rollback may still use an image that is on the host but gone from the registry.
            const local = kind === 'rollback' ? await host.image(image) : undefined;
            if (local) {
                log.warning(`${e.message}; using the copy already on the host`);
                note('used the local copy');
                return local;
            }
            throw new ReleaseError({ reason: e.message });
        }
    });
}
/** The image and settings asked for are already live: make sure the proxy serves them, change nothing else. */
async function alreadyLive(ctx, colors, record, live, containerId, containers) {
    const { router, log, timeline, config, ledger } = ctx;
    const route = ctx.routeTo(live);
    if (ctx.web)
        await timeline.step('verify', 'Verifying through the proxy', async (note) => {
            let v = await router.verify(route, config.health.path, 2000);
            // Proxy settings changed with the same image (a new TLS certificate, say): applied as a route.
            const outdated = v.ok && (await router.outdated?.(route));
            if (!v.ok || outdated) {
                // A run that died mid-switch, or a proxy re-created since: apply the recorded route again.
                log.info(outdated
                    ? `The proxy's settings for ${ctx.app} changed: applying them to the live ${live.color}`
                    : `The proxy does not serve ${live.color} (${describeAnswer(v.last)}); applying the recorded route again`);
                await router.apply(route);
                v = await router.verify(route, config.health.path, VERIFY_TIMEOUT_MS);
                if (!v.ok)
                    throw new ReleaseError({ reason: `The proxy does not serve ${live.color}: ${describeAnswer(v.last)}` });
            }
            note(describeAnswer(v.last));
        });
    // Keep what the inspect step settled (an imported or finished release) on record.
    await ledger.write({ ...record, routing: ctx.routing });
    log.info(`${live.image} is already live on ${live.color} with the same settings; nothing to do.`);
    const workers = await colors.workerStates(live.color);
    return { ...resultOf('unchanged', live, record.releases, containerId, standbyOf(record.releases, containers)), ...(workers.length ? { workers } : {}) };
}

;// CONCATENATED MODULE: ./src/engine/undo.ts
/**
 * The one undo stack of a release: every step that changes the host pushes how to put it back.
 * A failure before the release is committed unwinds it newest first. An undo that fails stops the
 * unwind: what lies beneath it (the containers a route still points at, say) stays, so that what
 * the proxy routes to and the containers under those names never disagree.
 */
class UndoStack {
    log;
    entries = [];
    constructor(log) {
        this.log = log;
    }
    push(what, run, ifStuck) {
        const entry = { what, run, ifStuck, state: 'pending' };
        this.entries.push(entry);
        return entry;
    }
    /** Runs one entry now (a failed verify switches back before it reports); the unwind skips it later. */
    async runNow(entry) {
        if (entry.state !== 'pending')
            return entry.error;
        try {
            await entry.run();
            entry.state = 'done';
            return undefined;
        }
        catch (e) {
            entry.state = 'failed';
            entry.error = e;
            return entry.error;
        }
    }
    /** Undoes newest first; returns where it stopped, if an undo failed. */
    async unwind() {
        for (const entry of [...this.entries].reverse()) {
            if (entry.state === 'pending')
                await this.runNow(entry);
            if (entry.state === 'failed') {
                this.log.warning(`Could not undo ${entry.what}: ${entry.error?.message}; what it covers is left as it is`);
                return { what: entry.what, error: entry.error, ifStuck: entry.ifStuck };
            }
        }
        this.entries.length = 0;
        return undefined;
    }
    /** The release is committed: nothing is undone any more. */
    commit() {
        this.entries.length = 0;
    }
}

;// CONCATENATED MODULE: ./src/engine/pipeline.ts

















/** How the gated color is exposed, from the inputs and what is live. */
function exposureFor(ctx, kind, live, promoting = false) {
    const { strategy } = ctx.config;
    if (!ctx.web)
        return noExposure;
    if (strategy.canaryWeight !== undefined && live && kind === 'deploy' && !promoting)
        return canaryExposure(strategy.canaryWeight);
    // canary-steps with nothing live: nothing to compare with, so the first deploy goes live.
    if (strategy.canarySteps && live && kind === 'deploy' && !promoting)
        return canaryStepsExposure(strategy.canarySteps);
    // promote manual: gated, not switched to; with nothing live there is nothing to preview beside, so it goes live.
    if (strategy.promote === 'manual' && kind === 'deploy' && !promoting) {
        if (live)
            return previewExposure;
        ctx.log.info('promote manual: nothing is live yet, so this first deploy goes live without waiting for mode promote');
    }
    return switchExposure;
}
/** Refuses an exposure the router cannot carry, before anything on the host changes. */
function checkCapabilities(ctx, exposure) {
    const caps = ctx.router.capabilities;
    const missing = exposure.needs.find(c => !caps[c]);
    if (missing)
        throw new ReleaseError({ reason: (0,capabilities/* capabilityMessage */._1)(exposure.input ?? 'mode', undefined, missing, caps.name, []) });
}
/**
 * A deploy or a rollback: read ledger → plan → prepare → boot + gate → expose → verify → record →
 * watch → clean up, with one undo stack and one error path (`deliver`).
 */
async function runRelease(ctx, colors, request, serving) {
    const plain = request.kind === 'rollback' && !request.toImage && request.toRelease === undefined;
    let early;
    const state = await inspectForRelease(ctx, colors, request.kind === 'rollback' && !request.toImage, () => (early = earlyPull(ctx, request)), record => {
        serving.live = record.releases[0];
        serving.releases = record.releases;
    });
    const { record, live } = state;
    // Every way out waits for what the run started on the proxy meanwhile (the route's repair, the proxy check).
    const started = [state.routing];
    try {
        // mode rollback while a canary serves: the canary ends (it never went live), the live release stays.
        // mode rollback while a preview waits: the preview goes, the live release is not touched.
        // Both change the route: the route is settled first.
        if (plain && live && (record.canary || record.preview)) {
            await state.routing.get();
            return await (record.canary ? endCanary(ctx, colors, record, live) : discardPreview(ctx, colors, record, live));
        }
        if (record.preview && request.kind === 'deploy') {
            const p = record.preview.release;
            ctx.log.info(`A preview of ${p.image} on ${p.color} waits since ${record.preview.since}: this deploy replaces it`);
        }
        return await planAndDeliver(ctx, colors, request, serving, state, early, p => started.push(p));
    }
    finally {
        // A route found wrong is put right by the end of every run, one that failed before the proxy check too.
        await state.routing.get().catch(() => undefined);
        for (const work of started)
            await work.settled();
    }
}
/** From the host's state: the plan, the image, the proxy check, then the delivery. */
async function planAndDeliver(ctx, colors, request, serving, state, early, started) {
    const { config, log } = ctx;
    const { record, live, containers } = state;
    const plan = planRelease(record.releases, containers, { replicas: config.strategy.replicas, ...request });
    if (plan.kind === 'impossible')
        throw new ReleaseError({ reason: `Cannot roll back ${ctx.app}: ${plan.why}.` });
    const exposure = exposureFor(ctx, request.kind, live);
    checkCapabilities(ctx, exposure);
    log.info(`Plan: ${plan.kind === 'start-new' ? `start ${plan.image} as ${plan.color}` : `switch to the standby ${plan.color} (${plan.image})`} — ${plan.why}`);
    await ctx.deps.onPlanned?.({
        color: plan.color,
        image: plan.image,
        from: live ? { color: live.color, image: live.image } : undefined,
        restores: plan.restores,
        ...(exposure.kind === 'preview' ? { preview: true } : {})
    });
    // A first deploy records the app before it changes anything on the host: a run killed from here on
    // leaves a ledger with no release, so the next run is a first deploy again, not one refused as if
    // a ledger had been lost (its containers are the killed run's, never live).
    if (!live)
        await ctx.ledger.write(record);
    // The proxy check, after the route's repair. A new color's health gate overlaps both (Docker serves
    // them slower while it starts a container), unless the gate asks the proxy; anything else has them
    // at once. Awaited before the first route change.
    const network = (0,core_names/* networkName */.uv)(ctx.app);
    // Started now; a run that fails before awaiting it (a pull) still ends only once Docker answered.
    const networks = new Lazy(() => ctx.host.ensureNetwork(network, { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.app]: ctx.app }).then(() => ensureComposeNetworks(ctx.host, config)));
    started(networks);
    void networks.get();
    const proxyReady = new Lazy(() => Promise.all([networks.get(), state.routing.get()]).then(() => (ctx.web ? ctx.router.ensure(network) : undefined)));
    started(proxyReady);
    if (plan.kind !== 'start-new')
        void proxyReady.get();
    const roles = config.roles ?? NO_ROLES;
    const hash = releaseHash(configHash(config.container, config.health.port), roles);
    if (config.shared?.length)
        await startShared(ctx, proxyReady.get(), network);
    let image;
    if (plan.kind === 'start-new') {
        const archive = request.kind === 'deploy' ? config.imageArchive : undefined;
        image = archive ? await loadArchive(ctx, plan.image, archive.path, archive.bytes) : await pullFor(ctx, plan.image, request.kind, early);
        // compose-file: services of another image than the routed one.
        if (request.kind === 'deploy')
            await colors.pullWorkerImages(roles.workers.map(recordOf));
        const liveState = live ? containers.find(c => c.color === live.color) : undefined;
        if (request.kind === 'deploy' && live && (await colors.isCurrent(live, liveState, image, hash, plan.replicas))) {
            await proxyReady.get();
            return alreadyLive(ctx, colors, record, live, liveState?.id, containers);
        }
    }
    await networks.get();
    if (colors.gateAsksProxy)
        await proxyReady.get();
    ctx.checkAborted(live);
    return deliver(ctx, colors, { plan, record, live, kind: request.kind, image, hash, exposure, serving, proxyReady });
}
/** The image a deploy (or a rollback to-image) starts whatever the host holds: pulled while the inspect step reads the rest. */
function earlyPull(ctx, request) {
    const image = request.kind === 'deploy' ? request.image : request.toImage;
    if (!image || (request.kind === 'deploy' && ctx.config.imageArchive))
        return undefined;
    return new EarlyPull(ctx.host, image);
}
/**
 * Boot + gate → expose → verify → record → watch → clean up. Until the exposure is verified every
 * failure unwinds the one undo stack (the host as it was found); after it the release is
 * committed and a failure reports it as what serves.
 */
async function deliver(ctx, colors, d) {
    const { plan, live, exposure } = d;
    const release = newRelease(ctx, d);
    const workers = workersFor(plan, ctx.config.roles ?? NO_ROLES);
    let record = d.record;
    // Migrations before anything of the new release starts; nothing to undo when they fail.
    if (ctx.config.releaseCommand && d.kind === 'deploy' && plan.kind === 'start-new' && d.image) {
        const image = { ref: plan.image, id: d.image.id };
        const runHere = async () => void (record = await runReleaseCommandStep(ctx, record, image, live));
        await (ctx.deps.releaseCommandOnce ? ctx.deps.releaseCommandOnce(runHere) : runHere());
    }
    const undo = d.undo ?? new UndoStack(ctx.log);
    const run = {
        ctx,
        colors,
        plan,
        record,
        live,
        release,
        route: ctx.route(plan.color, release.id, plan.replicas),
        workers,
        kind: d.kind,
        undo,
        serving: d.serving,
        ready: once(async () => {
            await d.proxyReady?.get();
            await colors.gated().catch((e) => {
                throw new ReleaseError({
                    reason: `The restart policy of ${plan.color} could not be set: ${e.message}. ${live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.'}`
                });
            });
        })
    };
    try {
        if (!d.keepBootOnFailure)
            undo.push(`the start of ${plan.color}`, () => colors.restore(plan, workers));
        if (ctx.web) {
            await ctx.timeline.step('boot', `Starting ${colors.describe(plan)}`, () => colors.boot(plan, release));
            void d.proxyReady?.get();
            ctx.checkAborted(live);
            await colors.gate(plan, live);
        }
        await colors.startWorkers(plan, release, workers, live);
        await ctx.deps.beforeSwitch?.();
        ctx.checkAborted(live);
        await exposure.expose(run);
        // Every exposure awaits it before its first route change; awaited here too, so none leaves it behind.
        await run.ready();
    }
    catch (e) {
        // Nothing of the proxy's check is left running while the host is put back.
        await d.proxyReady?.settled();
        const stuck = (await undo.unwind())?.ifStuck;
        if (stuck) {
            d.serving.live = stuck.live;
            throw new ReleaseError({ ...failureOf(e), reason: `${failureOf(e).reason} ${stuck.why}` });
        }
        throw e;
    }
    undo.commit();
    return exposure.settle(run);
}
/** `fn`'s promise, made at the first call and returned to every later one. */
function once(fn) {
    let made;
    return () => (made ??= fn());
}
function failureOf(e) {
    return e instanceof ReleaseError ? e.failure : { reason: e.message };
}
function newRelease(ctx, d) {
    const { plan } = d;
    const id = ctx.newId();
    const workers = workersFor(plan, ctx.config.roles ?? NO_ROLES);
    return {
        id,
        instance: plan.kind === 'reuse-standby' ? plan.restores.instance : id,
        app: ctx.app,
        color: plan.color,
        image: plan.image,
        digest: d.image?.digest ?? (plan.kind === 'reuse-standby' ? plan.restores.digest : undefined),
        configHash: plan.kind === 'reuse-standby' ? plan.restores.configHash : d.hash,
        kind: d.kind,
        ...(plan.replicas > 1 ? { replicas: plan.replicas } : {}),
        liveSince: '',
        by: ctx.deps.author,
        ...(workers.length ? { workers } : {}),
        ...(ctx.web ? {} : { web: false })
    };
}

;// CONCATENATED MODULE: ./src/engine/remove.ts




/** How long a web container gets to finish after SIGTERM once its drain is over. */
const WEB_STOP_GRACE_S = 10;
/**
 * mode remove (issue #22): takes the app off the host. Its route leaves the shared proxy first,
 * gracefully (requests in flight finish, every other app keeps serving); after the drain its
 * containers (both colors, workers, what an interrupted run set aside) stop and go, then its own
 * networks and the images nothing else records; its ledger is archived so its domains and its
 * default-server claim are free. Shared services and named volumes stay unless remove-data.
 * Only containers that carry cutover's labels for this app are touched. A cluster's color set
 * (target swarm) says what of the app it holds and removes it instead (ColorSet.removal).
 */
async function runRemove(ctx, colors, serving) {
    const { log, timeline, config } = ctx;
    const { record, removal } = await timeline.step('inspect', 'Reading the state of the host', async (note) => {
        const record = await readForRemoval(ctx);
        refuseOtherProxy(ctx, record);
        if (!ctx.router.withdraw) {
            throw new ReleaseError({
                reason: `The ${ctx.router.capabilities.name} proxy cannot take an app off it, so ${ctx.app} cannot be removed: nothing was changed.`
            });
        }
        const removal = colors.removal ? await colors.removal() : await containerRemoval(ctx, colors);
        note(`${removal.found}, ${record ? `${record.releases.length} release(s) recorded` : 'no ledger'}`);
        return { record, removal };
    });
    serving.live = record?.releases[0];
    serving.releases = record?.releases ?? [];
    const withdrawn = await timeline.step('switch', `Taking ${ctx.app} off ${removal.proxy ?? `the proxy ${config.proxy.name}`}`, async (note) => {
        const progress = { unrouted: false };
        const { done, drain } = await withdrawAndDrain(ctx, removal.running, progress).catch((e) => {
            const now = progress.unrouted
                ? `Its domains already left the proxy (new requests no longer reach it); its containers still run`
                : `Its routing is as it was; ${serving.live ? `${serving.live.color} (${serving.live.image}) still serves` : 'nothing else was changed'}`;
            throw new ReleaseError({ reason: `The proxy could not take ${ctx.app} off it: ${e.message}. ${now}. Run mode remove again.` });
        });
        note([done ? 'its domains are free' : 'the proxy had no route for it', describeDrain(drain)].filter(Boolean).join('; '));
        return done;
    });
    // The proxy no longer sends it anything: from here on nothing of the app serves.
    serving.live = undefined;
    const removed = await timeline.step('cleanup', `Removing ${removal.what}`, async (note) => {
        const summary = await removal.remove();
        note(summary);
        return summary;
    });
    const archived = await ctx.ledger.archive().catch((e) => {
        throw new ReleaseError({
            reason: `${ctx.app} was taken off the proxy and removed (${removed}), but ${e.message}. Run mode remove again to archive it.`
        });
    });
    log.info(archived
        ? `${ctx.app} is removed from ${removal.place}; its release ledger was archived to ${archived}.`
        : removal.any || withdrawn
            ? `${ctx.app} is removed from ${removal.place} (it had no release ledger).`
            : `Nothing of ${ctx.app} was on ${removal.place}: nothing to remove.`);
    const last = record?.releases[0];
    return { result: 'removed', releases: [], ...(last ? { previousColor: last.color, previousImage: last.image } : {}) };
}
/** The app's containers on one host: what the inspect step found, and their removal with the app's networks. */
async function containerRemoval(ctx, colors) {
    const containers = (await ctx.host.listApp(ctx.app)).filter(c => c.labels[core_names/* LABEL */.d_.managed] === 'true');
    return {
        place: 'this host',
        what: `${ctx.app}'s containers and networks`,
        found: `${containers.length} container(s)`,
        any: containers.length > 0,
        running: containers.some(c => c.state === 'running'),
        remove: async () => {
            const summary = await removeContainers(ctx, colors, containers);
            const networks = await removeNetworks(ctx);
            return [summary, networks].filter(Boolean).join('; ');
        }
    };
}
/**
 * The route off the proxy, then the wait for requests in flight (when something of the app runs,
 * and drain-timeout is not 0): as long as they last where the proxy counts them, else the whole
 * drain-timeout.
 */
async function withdrawAndDrain(ctx, running, progress) {
    const withdraw = ctx.router.withdraw.bind(ctx.router);
    if (!running || ctx.config.proxy.drainTimeoutMs <= 0)
        return { done: await withdraw() };
    if (ctx.router.capabilities.inFlight) {
        let drain;
        const done = await withdraw(async (inFlight) => {
            progress.unrouted = true;
            drain = await drainInFlight(ctx, inFlight);
        });
        return { done, drain };
    }
    const done = await withdraw();
    return { done, drain: done ? await drainTimed(ctx) : undefined };
}
/** The record, or undefined; a damaged record does not block the removal (it is archived as it is). */
async function readForRemoval(ctx) {
    try {
        return await ctx.ledger.read();
    }
    catch (e) {
        if (!(e instanceof LedgerError))
            throw e;
        ctx.log.warning(`The release ledger of ${ctx.app} cannot be read (${e.message}); removing the app all the same, and archiving the file as it is`);
        return undefined;
    }
}
/** The ledger says the app is routed by another proxy than proxy-name: that one must be asked. */
function refuseOtherProxy(ctx, record) {
    const recorded = record?.routing?.proxy;
    if (recorded && recorded !== ctx.config.proxy.name) {
        throw new ReleaseError({
            reason: `${ctx.app} is routed by the proxy ${recorded} (its release ledger says so), not ${ctx.config.proxy.name}: set proxy-name: ${recorded} to remove it. Nothing was changed.`
        });
    }
}
/** Every container of the app (shared services only with remove-data), then the images and volumes they leave unused. */
async function removeContainers(ctx, colors, containers) {
    const { host, log, config } = ctx;
    const removeData = config.removeData === true;
    const kept = containers.filter(c => c.labels[core_names/* LABEL */.d_.role] === 'shared' && !removeData);
    const going = containers.filter(c => !kept.includes(c));
    for (const c of kept)
        log.info(`Kept the shared service ${c.name} (and its volumes): remove-data: true removes it too`);
    const infos = await Promise.all(going.map(async (c) => ({ c, info: await host.inspect(c.name), volumes: removeData ? await host.volumesOf(c.name) : [] })));
    const workerGrace = Math.ceil((config.roles?.stopTimeoutMs ?? 30_000) / 1000);
    await Promise.all(going.map(async (c) => {
        // SIGTERM first: a worker finishes its job, a web container its last requests.
        if (c.state === 'running')
            await host.stop(c.name, c.labels[core_names/* LABEL */.d_.role] === 'web' || !c.labels[core_names/* LABEL */.d_.role] ? WEB_STOP_GRACE_S : workerGrace);
        await host.remove(c.name);
        log.info(`Removed ${c.name}`);
    }));
    const images = [...new Set(infos.map(i => i.info?.imageId).filter((id) => !!id))];
    for (const id of images)
        await colors.prune(id);
    const volumes = [...new Set(infos.flatMap(i => i.volumes))];
    for (const v of volumes) {
        const result = await host.removeVolume(v);
        if (result === 'removed')
            log.info(`Removed the volume ${v} (remove-data)`);
        else if (result === 'in-use')
            log.warning(`Kept the volume ${v}: another container (of another app?) still uses it`);
    }
    const parts = [
        `${going.length} container(s) removed`,
        kept.length ? `${kept.length} shared service(s) kept` : '',
        volumes.length ? `${volumes.length} volume(s)` : ''
    ];
    return parts.filter(Boolean).join(', ');
}
/** The app's own networks, once the proxy left them; one another container still uses stays, said. */
async function removeNetworks(ctx) {
    const { host, log, config } = ctx;
    const names = [...new Set([(0,core_names/* networkName */.uv)(ctx.app), ...(await host.appNetworks(ctx.app))])];
    // The proxy joined the app's network to reach it (the nginx switch tier under its own name).
    const proxies = [config.proxy.name, `${config.proxy.name}-switch`];
    let removed = 0;
    for (const name of names) {
        const r = await host.removeNetwork(name, proxies);
        if (r.result === 'removed')
            removed++;
        if (r.result === 'in-use')
            log.info(`Kept the network ${name}: ${r.by.length ? r.by.join(', ') : 'a container'} still uses it`);
    }
    return removed ? `${removed} network(s) removed` : '';
}

;// CONCATENATED MODULE: ./src/engine/promote.ts








/** mode promote: what waits beside the live release (a canary, or a preview) becomes live through a full switch. */
async function runPromote(ctx, colors, serving) {
    const { timeline } = ctx;
    const { record, live, containers } = await timeline.step('inspect', 'Reading the state of the host', async (note) => {
        const record = await readLedger(ctx);
        const live = record.releases[0];
        serving.live = live;
        serving.releases = record.releases;
        const containers = await colors.inspect(record.releases);
        note(record.canary
            ? `canary ${record.canary.release.color} at ${record.canary.weight} %`
            : record.preview
                ? `preview ${record.preview.release.color} waiting`
                : 'nothing waiting');
        return { record, live, containers };
    });
    if (record.preview && live && !record.canary)
        return promotePreview(ctx, colors, record, live, containers, serving);
    if (!record.canary || !live)
        throw new ReleaseError({ reason: `Nothing of ${ctx.app} waits to be promoted: deploy with canary-weight or promote: manual first. Nothing was changed.` });
    return promoteCanary(ctx, colors, record, live, containers, serving);
}
async function prepareProxy(ctx) {
    const network = (0,core_names/* networkName */.uv)(ctx.app);
    await ctx.host.ensureNetwork(network, { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.app]: ctx.app });
    await ctx.router.ensure(network);
}
async function promoteCanary(ctx, colors, record, live, containers, serving) {
    const canary = record.canary;
    const c = containers.find(x => x.color === canary.release.color);
    const plan = {
        kind: 'reuse-standby',
        color: canary.release.color,
        image: canary.release.image,
        replicas: canary.release.replicas ?? 1,
        mustStart: !c?.running,
        why: `promoting the canary (${canary.weight} % since ${canary.since})`,
        restores: canary.release
    };
    ctx.log.info(`Plan: promote ${plan.image} on ${plan.color} from ${canary.weight} % to all new requests`);
    await ctx.deps.onPlanned?.({ color: plan.color, image: plan.image, from: { color: live.color, image: live.image }, restores: canary.release });
    await prepareProxy(ctx);
    // A canary that cannot be promoted is ended: the live color alone serves, as after a rollback.
    // Its containers keep serving their share until then, so this undo is the last.
    const undo = new UndoStack(ctx.log);
    undo.push('the canary', async () => {
        await ctx.router.apply(ctx.routeTo(live)).catch(u => ctx.log.warning(`Could not route ${ctx.app} back to ${live.color} alone: ${u.message}`));
        await rewriteLedger(ctx, { ...record, pending: undefined, canary: undefined, endedCanary: { color: canary.release.color, at: ctx.nowIso() } });
    });
    try {
        // Health first, while the canary still serves its share: a failing canary is ended, not promoted.
        const result = await deliver(ctx, colors, {
            plan,
            record,
            live,
            kind: 'deploy',
            hash: canary.release.configHash,
            exposure: switchExposure,
            serving,
            undo,
            keepBootOnFailure: true
        });
        return { ...result, result: 'deployed' };
    }
    catch (e) {
        if (e instanceof ReleaseError && !e.result)
            throw new ReleaseError({ ...e.failure, reason: `${e.failure.reason} The canary was ended: ${live.color} (${live.image}) serves all requests.` });
        throw e;
    }
}
/** mode promote of a preview: its containers (health re-checked first) become live through a full switch. */
async function promotePreview(ctx, colors, record, live, containers, serving) {
    const preview = record.preview;
    const c = containers.find(x => x.color === preview.release.color);
    const size = preview.release.replicas ?? 1;
    if (!c || !isContainerOf(c, preview.release) || (c.replicas ?? 1) < size) {
        throw new ReleaseError({
            reason: `The preview of ${preview.release.image} on ${preview.release.color} has lost its containers: deploy it again (with promote: manual) or mode rollback to forget it. ${live.color} (${live.image}) is still live.`
        });
    }
    const plan = {
        kind: 'reuse-standby',
        color: preview.release.color,
        image: preview.release.image,
        replicas: size,
        mustStart: !c.running,
        why: `promoting the preview waiting since ${preview.since}`,
        restores: preview.release
    };
    ctx.log.info(`Plan: promote the preview ${plan.image} on ${plan.color} to live (health re-checked first)`);
    await ctx.deps.onPlanned?.({ color: plan.color, image: plan.image, from: { color: live.color, image: live.image }, restores: preview.release });
    await prepareProxy(ctx);
    try {
        const result = await deliver(ctx, colors, { plan, record, live, kind: 'deploy', hash: preview.release.configHash, exposure: switchExposure, serving });
        return { ...result, result: 'deployed', previewEnded: 'promoted' };
    }
    catch (e) {
        if (e instanceof ReleaseError && !e.result)
            throw new ReleaseError({ ...e.failure, reason: `${e.failure.reason} The preview stays recorded: mode promote tries again, mode rollback discards it.` });
        throw e;
    }
}

;// CONCATENATED MODULE: ./src/engine/status.ts






/** mode status asks the proxy once what it serves: a live app answers well within this. */
const STATUS_PROBE_MS = 3000;
/** Reads what is live and on standby without changing anything. */
async function runStatus(ctx, colors, serving) {
    const { host, router, timeline, log } = ctx;
    return timeline.step('inspect', 'Reading the state of the host', async (note) => {
        // rebuild-ledger: a missing ledger is rebuilt from the containers' labels and the proxy's route first.
        if (ctx.config.rebuildLedger)
            note(await rebuildMissingLedger({ ...ctx.deps, router: ctx.web ? router : undefined }, ctx.app, ctx.routing));
        const [record, containers, routed] = await Promise.all([readLedger(ctx), host.listApp(ctx.app), ctx.web ? router.current() : undefined]);
        for (const c of containers)
            log.info(`container ${c.name}: ${c.state} (${c.status}), image ${c.image}`);
        const live = record.releases[0];
        serving.live = live;
        serving.releases = record.releases;
        if (!live) {
            log.info(`No deploy of ${ctx.app} is recorded on this host.`);
            return { result: 'unchanged', releases: [] };
        }
        const states = await colors.inspect(record.releases);
        const liveContainer = states.find(c => c.color === live.color);
        log.info(`Live: ${live.color} ${live.image} (since ${live.liveSince})${liveContainer?.running ? '' : ' — its container is NOT running'}`);
        // Without a web role there is no proxy to ask.
        const served = ctx.web ? await checkServed(ctx, live, record.releases, routed) : undefined;
        if (served?.ok)
            log.info(served.text);
        else if (served)
            log.warning(served.text);
        const standby = standbyOf(record.releases, states);
        if (standby)
            log.info(`Standby: ${standby.color} ${standby.image} (${standby.state})`);
        if (record.canary) {
            const c = record.canary;
            log.info(`Canary: ${c.release.color} ${c.release.image} serves ${c.weight} % of new requests since ${c.since} (mode promote or rollback ends it)`);
        }
        const preview = record.preview && previewState(ctx, record.preview);
        if (preview) {
            const running = states.find(c => c.color === preview.color);
            const ok = running?.running && isContainerOf(running, record.preview.release);
            const where = preview.url ? ` at ${preview.url}` : '';
            const text = `Preview: ${preview.color} ${preview.image} waits for mode promote since ${preview.since}${where}${ok ? '' : ' — its containers are NOT running'}`;
            if (ok)
                log.info(text);
            else
                log.warning(text);
        }
        const workers = await colors.workerStates(live.color);
        const cluster = await colors.clusterState?.(live);
        for (const line of cluster?.lines ?? [])
            log.info(line);
        for (const line of cluster?.drift ?? [])
            log.warning(`Drift: ${line}`);
        return {
            ...resultOf('unchanged', live, record.releases, liveContainer?.id, standby),
            ...(cluster ? { drift: cluster.drift.length > 0 } : {}),
            ...(preview ? { preview } : {}),
            ...(served ? { served } : {}),
            ...(workers.length ? { workers } : {})
        };
    });
}
/**
 * What the proxy serves, asked through it (not read from its configuration): a run interrupted
 * between the switch and the ledger, or a route changed by hand, shows here.
 */
async function checkServed(ctx, live, releases, routed) {
    const { config, router } = ctx;
    const fix = 'the next deploy or rollback re-applies the recorded route.';
    if (!routed)
        return { ok: false, text: `The proxy has no route for ${ctx.app}: ${fix}` };
    const route = { app: ctx.app, color: routed.color, releaseId: routed.releaseId, appPort: config.health.port };
    const probe = await router.verify(route, config.health.path, STATUS_PROBE_MS).catch((e) => e);
    if (probe instanceof Error)
        return { ok: false, text: `Could not ask the proxy what it serves: ${probe.message}` };
    const named = (id) => {
        const r = releases.find(x => x.id === id);
        return r ? `${r.color} (${r.image})` : `release ${id}, which the ledger does not know`;
    };
    if (!probe.ok) {
        return {
            ok: false,
            text: `Through the proxy, ${ctx.app} did not answer from ${named(routed.releaseId)} within ${STATUS_PROBE_MS / 1000} s (last answer: ${describeAnswer(probe.last)}).`
        };
    }
    if (routed.releaseId !== live.id)
        return { ok: false, text: `The proxy serves ${named(routed.releaseId)}, not the recorded live ${live.color} (${live.image}): ${fix}` };
    return { ok: true, text: `Served: ${live.color} (${live.image}) answered through the proxy in ${probe.ms} ms.` };
}

;// CONCATENATED MODULE: ./src/engine/strategy.ts




/**
 * mode maintenance / mode live (issue #12): the proxy serves a 503 page for the app instead of it,
 * or stops doing so. Nothing else changes: the containers keep running, the ledger keeps its
 * releases, and health probes (host -> container) and cutover's verification still reach the app.
 */
async function switchMaintenance(deps, on) {
    const { config, host, router, ledger, timeline, log } = deps;
    const app = config.app;
    const maintenance = router.maintenance?.bind(router);
    // Checked with the inputs already (src/proxy/capabilities.ts): this guards a router that declares it wrongly.
    if (!maintenance || !router.capabilities.maintenance) {
        throw new ReleaseError({ reason: (0,capabilities/* capabilityMessage */._1)('mode', config.mode, 'maintenance', router.capabilities.name, []) });
    }
    const record = await timeline.step('inspect', 'Reading the state of the host', async (note) => {
        const record = await ledger.read();
        const live = record?.releases[0];
        if (!record || !live)
            throw new ReleaseError({
                reason: `Nothing of ${app} is deployed on this host, so there is no page to ${on ? 'replace' : 'bring back'}. Nothing was changed.`
            });
        note(`${live.color} live (${live.image})`);
        return record;
    });
    const live = record.releases[0];
    const network = (0,core_names/* networkName */.uv)(app);
    await host.ensureNetwork(network, { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.app]: app });
    await router.ensure(network);
    const confirmed = await timeline.step('switch', on ? `Serving the maintenance page for ${app}` : `Ending maintenance of ${app}`, async (note) => {
        const v = await maintenance(on, on ? config.strategy.maintenancePage : undefined).catch((e) => {
            throw new ReleaseError({ reason: `The proxy could not ${on ? 'turn on' : 'end'} maintenance of ${app}: ${e.message}` });
        });
        note(`${describeAnswer(v.last)} after ${v.ms} ms`);
        return v;
    });
    if (!confirmed.ok) {
        throw new ReleaseError({
            reason: `The proxy did not ${on ? 'serve the maintenance page' : 'stop serving the maintenance page'} for ${app} within 10 s (last answer: ${describeAnswer(confirmed.last)}).`
        });
    }
    log.info(on
        ? `${app} answers with the maintenance page (503, Retry-After); ${live.color} (${live.image}) keeps running.`
        : `${app} is live again on ${live.color} (${live.image}).`);
    const previous = record.releases[1];
    return {
        result: on ? 'maintenance' : 'live',
        color: live.color,
        image: live.image,
        deployedAt: live.liveSince,
        previousColor: previous?.color,
        previousImage: previous?.image,
        release: live,
        releases: record.releases
    };
}

;// CONCATENATED MODULE: ./src/engine/release.ts









/**
 * The release engine of one host: deploy, rollback, promote and status over the pipeline
 * (pipeline.ts). Every failure leaves it as a ReleaseError whose result says what serves, so no
 * caller reads the engine's state after a failure.
 */
class ReleaseEngine {
    ctx;
    colors;
    /** What the run in progress knows serves; read only by a hard stop, which cannot wait for the run's own outcome. */
    serving = { releases: [] };
    constructor(deps, colors) {
        this.ctx = new EngineContext(deps);
        this.colors = colors ? colors(this.ctx) : new ContainerColorSet(this.ctx);
    }
    /** A deploy or a rollback: start or reuse the idle color, gate on health, expose, verify, clean up. */
    release(request) {
        return this.outcome(serving => runRelease(this.ctx, this.colors, request, serving));
    }
    /** mode promote: the canary or the preview becomes live. */
    promote() {
        return this.outcome(serving => runPromote(this.ctx, this.colors, serving));
    }
    /** mode maintenance (on) / live (off): the proxy's answers for the app, nothing else. */
    maintenance(on) {
        return this.outcome(() => switchMaintenance(this.ctx.deps, on));
    }
    /** mode remove: the app off the proxy gracefully, then off the host (remove.ts). */
    remove() {
        return this.outcome(serving => runRemove(this.ctx, this.colors, serving));
    }
    /** Reads what is live and on standby without changing anything. */
    status() {
        return this.outcome(serving => runStatus(this.ctx, this.colors, serving));
    }
    /**
     * Asks the release to stop at the next safe point: before the switch it undoes what it started and
     * fails; once the switch is verified it finishes (the new color is live either way).
     */
    abort(reason) {
        this.ctx.abort(reason);
    }
    /** What serves as far as the run in progress knows, for a run that must stop at once (a second cancel). */
    snapshot() {
        return failedResultOf(this.serving.live, this.serving.releases);
    }
    /** The single error path: whatever failed, the error carries what serves as far as the run knows. */
    async outcome(run) {
        const serving = (this.serving = { releases: [] });
        try {
            return await run(serving);
        }
        catch (e) {
            throw withOutcome(e, serving.live, serving.releases);
        }
    }
}
/** `e` as a ReleaseError that says what is live; an error that is not the release's own is marked as the infrastructure's. */
function withOutcome(e, live, releases) {
    if (e instanceof ReleaseError)
        return e.result ? e : new ReleaseError(e.failure, failedResultOf(live, releases), e.infrastructure);
    return new ReleaseError({ reason: e.message }, failedResultOf(live, releases), true);
}

// EXTERNAL MODULE: ./src/core/trace.ts
var trace = __webpack_require__(4186);
;// CONCATENATED MODULE: ./src/engine/timeline.ts

/** Times each step of a run and wraps it in a collapsible log group. */
class Timeline {
    log;
    now;
    steps = [];
    startedAt;
    constructor(log, now = Date.now) {
        this.log = log;
        this.now = now;
        this.startedAt = now();
    }
    /**
     * `since`: when the step's work really began, if before this call (the SSH handshake starts while
     * the action loads): the step counts from then, on this timeline's clock and on the trace's.
     */
    async step(name, title, fn, since) {
        const started = since?.at ?? this.now();
        const tracedFrom = since?.traced ?? (0,trace/* sinceStart */.B)();
        let detail;
        try {
            const value = await this.log.group(title, () => fn(d => (detail = d)));
            this.steps.push({ name, ms: this.now() - started, ok: true, detail });
            return value;
        }
        catch (e) {
            this.steps.push({ name, ms: this.now() - started, ok: false, detail: detail ?? e.message });
            throw e;
        }
        finally {
            trace/* trace */.u.span(`step ${name}`, tracedFrom);
        }
    }
    elapsedMs() {
        return this.now() - this.startedAt;
    }
}

// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(7075);
// EXTERNAL MODULE: ./node_modules/tar-stream/index.js
var tar_stream = __webpack_require__(6118);
// EXTERNAL MODULE: ./src/transport/host-text.ts
var host_text = __webpack_require__(2759);
;// CONCATENATED MODULE: ./src/transport/docker-ops.ts




/** Splits Docker's multiplexed stdout/stderr framing (used when a container has no TTY). */
function demux(buf) {
    let stdout = '';
    let stderr = '';
    let i = 0;
    while (i + 8 <= buf.length) {
        const kind = buf[i];
        const size = buf.readUInt32BE(i + 4);
        const chunk = buf.subarray(i + 8, i + 8 + size).toString('utf8');
        if (kind === 2)
            stderr += chunk;
        else
            stdout += chunk;
        i += 8 + size;
    }
    // Not framed after all (TTY container): return it whole.
    if (i === 0 && buf.length > 0)
        stdout = buf.toString('utf8');
    return { stdout, stderr };
}
async function readAll(stream) {
    const chunks = [];
    for await (const c of stream)
        chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
    return Buffer.concat(chunks);
}
/** Runs a command inside a running container and waits for it to end. */
async function execIn(container, cmd) {
    const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const raw = await readAll(stream);
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, ...demux(raw) };
}
/** Writes one file into a container (running or not) through the archive API: no shell needed. */
async function putFile(container, dir, name, content, mode = 0o644) {
    await putFiles(container, dir, [{ name, content, mode }]);
}
/** Writes several files into a directory of a container in one request (one archive). */
async function putFiles(container, dir, files) {
    const pack = tar_stream.pack();
    const mtime = new Date();
    for (const f of files)
        pack.entry({ name: f.name, mode: f.mode ?? 0o644, mtime }, f.content);
    pack.finalize();
    const archive = await readAll(pack);
    await container.putArchive(external_node_stream_.Readable.from([archive]), { path: dir });
}
/** An archive from Docker's archive API; undefined on 404 (no such file, directory or container). */
async function archiveOf(container, path) {
    try {
        return await container.getArchive({ path });
    }
    catch (e) {
        if (e.statusCode === 404)
            return undefined;
        throw e;
    }
}
/** Why a streamed answer ended early: http calls a connection closed part-way "aborted" (ECONNRESET). */
function describeCut(error) {
    if (error.code === 'ERR_STREAM_PREMATURE_CLOSE')
        return 'the answer was cut off';
    if (error.code === 'ECONNRESET')
        return `the answer was cut off (${error.message})`;
    return error.message;
}
/**
 * The regular files of a tar stream, in order, by entry name. An archive that errors or closes
 * before its end fails this (pipe() passes neither on, so the extract would wait for ever).
 */
async function filesIn(archive, path) {
    const files = [];
    const extract = tar_stream.extract();
    const done = new Promise((resolve, reject) => {
        extract.on('entry', (header, stream, next) => {
            const chunks = [];
            stream.on('data', (c) => chunks.push(c));
            stream.on('end', () => {
                if (header.type === 'file')
                    files.push({ name: header.name, content: Buffer.concat(chunks).toString('utf8') });
                next();
            });
            stream.resume();
        });
        extract.on('finish', resolve);
        extract.on('error', reject);
        (0,external_node_stream_.finished)(archive, error => {
            if (!error)
                return;
            extract.destroy();
            reject(new Error(`Reading ${path} from the container failed: ${describeCut(error)}`));
        });
    });
    archive.pipe(extract);
    await done;
    return files;
}
/** Reads one file out of a container; undefined when it does not exist. */
async function getFile(container, path) {
    const archive = await archiveOf(container, path);
    return archive ? (await filesIn(archive, path))[0]?.content : undefined;
}
/**
 * Every regular file directly inside a directory of a container, by name, in one request (each
 * archive request costs a round trip, and Docker serves them one at a time per container); an
 * empty map when the directory does not exist.
 */
async function getDirFiles(container, dir) {
    const archive = await archiveOf(container, dir);
    const files = new Map();
    for (const f of archive ? await filesIn(archive, dir) : []) {
        // Entries are named after the directory: "cutover/a.map"; deeper ones are not ours.
        const parts = f.name.split('/');
        if (parts.length === 2)
            files.set(parts[1], f.content);
    }
    return files;
}
/** The last lines a container wrote, stdout and stderr interleaved as Docker kept them. */
async function tailLogs(container, lines = 30) {
    try {
        const raw = (await container.logs({ stdout: true, stderr: true, tail: lines, follow: false }));
        const { stdout, stderr } = demux(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
        return [stdout, stderr].filter(Boolean).join('').trimEnd();
    }
    catch (e) {
        return `(logs unavailable: ${e.message})`;
    }
}
/** Calls onLine for every complete line written to the stream, and the rest at its end. */
function lineSplitter(onLine) {
    let partial = '';
    return {
        write(text) {
            const lines = (partial + text).split(/\r?\n/);
            partial = lines.pop() ?? '';
            for (const l of lines)
                onLine(l);
        },
        flush() {
            if (partial)
                onLine(partial);
            partial = '';
        }
    };
}
/**
 * Follows a started container's output until it exits; resolves with its exit code, or undefined
 * when the time is up or `abort` fires first. Neither request has a deadline of its own
 * (see requestBound): this timer is theirs, and both are ended when it fires.
 */
async function waitForExit(container, timeoutMs, onLine, abort) {
    const stop = new AbortController();
    const stopAll = () => stop.abort();
    abort?.addEventListener('abort', stopAll);
    let timer;
    const timedOut = new Promise(resolve => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
        stop.signal.addEventListener('abort', () => resolve(undefined));
    });
    const out = lineSplitter(onLine);
    const followed = (async () => {
        const stream = (await container.logs({ follow: true, stdout: true, stderr: true, abortSignal: stop.signal }));
        const sink = new external_node_stream_.Writable({
            write(chunk, _enc, done) {
                out.write(chunk.toString('utf8'));
                done();
            }
        });
        container.modem.demuxStream(stream, sink, sink);
        await new Promise(resolve => {
            stream.on('end', resolve);
            stream.on('close', resolve);
            stream.on('error', () => resolve());
        });
        out.flush();
    })().catch(() => undefined);
    try {
        const exited = container.wait({ abortSignal: stop.signal }).then((r) => r.StatusCode, (e) => {
            if (stop.signal.aborted)
                return undefined;
            throw e;
        });
        const code = await Promise.race([exited, timedOut]);
        // The last lines may still be on their way after the exit.
        if (code !== undefined)
            await Promise.race([followed, new Promise(resolve => setTimeout(resolve, 2000).unref())]);
        return code;
    }
    finally {
        clearTimeout(timer);
        abort?.removeEventListener('abort', stopAll);
        stop.abort();
    }
}
function isNotFound(e) {
    return e.statusCode === 404;
}
function isConflict(e) {
    return e.statusCode === 409;
}
/** How long a pull may go without any progress event before it is given up. */
const PULL_IDLE_TIMEOUT_MS = 120_000;
/**
 * Pulls an image with the credentials (already matched to its registry) sent in the X-Registry-Auth header only:
 * nothing is written to the host's disk. Reports progress per layer, throttled.
 * A pull may take as long as the image needs, but not `idleTimeoutMs` without any progress
 * (the Docker API request itself has no deadline: see requestBound in docker.ts).
 */
async function pullImage(docker, image, authconfig, log, idleTimeoutMs = PULL_IDLE_TIMEOUT_MS) {
    const ref = (0,image_ref/* pullableRef */.Tg)(image);
    const stream = (await docker.pull(ref, authconfig ? { authconfig } : {}));
    const lastStatus = new Map();
    let lastLog = 0;
    // The daemon reports pull failures (auth, missing tag) as an event in the stream, not as an HTTP error.
    let streamError;
    let idle;
    const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(() => stream.destroy(new Error(`no progress from the Docker daemon for ${idleTimeoutMs < 1000 ? `${idleTimeoutMs} ms` : `${Math.round(idleTimeoutMs / 1000)} s`}`)), idleTimeoutMs);
        // Bounds a pull someone awaits; a pull the run left behind (it was refused while an early pull
        // went on) must not keep the finished process alive until the timer fires.
        idle.unref();
    };
    arm();
    try {
        await new Promise((resolve, reject) => {
            docker.modem.followProgress(stream, (err) => {
                const why = err?.message ?? streamError;
                if (why)
                    reject(new Error(`Pull of ${image} failed: ${(0,host_text/* sanitizeHostText */.l)(why, 500)}`));
                // followProgress takes a stream that closed early for one that ended: it is not.
                else if (stream.complete === false)
                    reject(new Error(`Pull of ${image} failed: the Docker daemon's answer was cut off`));
                else
                    resolve();
            }, (event) => {
                arm();
                if (event.error) {
                    streamError = event.error;
                    return;
                }
                const key = event.id ?? '';
                const status = event.status ?? '';
                const now = Date.now();
                const changed = lastStatus.get(key) !== status;
                if (changed || now - lastLog > 2000) {
                    lastStatus.set(key, status);
                    lastLog = now;
                    log((0,host_text/* sanitizeHostText */.l)(`${key ? key + ': ' : ''}${status}${event.progress && !changed ? ' ' + event.progress : ''}`, 200));
                }
            });
        });
    }
    finally {
        clearTimeout(idle);
    }
}

// EXTERNAL MODULE: external "node:http"
var external_node_http_ = __webpack_require__(7067);
var external_node_http_default = /*#__PURE__*/__webpack_require__.n(external_node_http_);
// EXTERNAL MODULE: ./src/transport/ssh.ts
var transport_ssh = __webpack_require__(7171);
;// CONCATENATED MODULE: ./src/transport/http-probe.ts



const MAX_BODY = 2048;
/**
 * One HTTP GET over a stream opened by `open` (an SSH direct-tcpip channel), so probes
 * reach addresses as the host sees them and need no tool inside the app image.
 *
 * The whole probe (opening the channel, sending, the headers and the body) is bounded by one
 * hard timer that destroys the channel: http's own `timeout` relies on socket.setTimeout, which
 * SSH channels lack, so a server that accepts and never answers would hang the run.
 * Never throws, except SshConnectionLostError: a lost connection is not a probe result.
 */
function httpGet(open, target, timeoutMs) {
    const started = Date.now();
    return new Promise((resolve, reject) => {
        let stream;
        let req;
        let done = false;
        let partial;
        const cleanup = () => {
            clearTimeout(timer);
            req?.destroy();
            stream?.destroy();
        };
        const finish = (r) => {
            if (done)
                return;
            done = true;
            cleanup();
            resolve({ ...r, ms: Date.now() - started });
        };
        const fail = (error) => {
            if (done)
                return;
            if (!(error instanceof transport_ssh/* SshConnectionLostError */.Fd))
                return finish({ headers: partial?.headers ?? {}, body: '', error: error.message });
            done = true;
            cleanup();
            reject(error);
        };
        const timer = setTimeout(() => {
            const what = !stream
                ? `could not open a connection within ${timeoutMs} ms`
                : partial
                    ? `answered HTTP ${partial.status} but the answer did not end within ${timeoutMs} ms`
                    : `no answer within ${timeoutMs} ms`;
            finish({ headers: partial?.headers ?? {}, body: '', error: what });
        }, timeoutMs);
        open(target.host, target.port).then(s => {
            if (done) {
                // the timer fired first: do not leak the channel
                s.on('error', () => undefined);
                s.destroy();
                return;
            }
            stream = s;
            s.on('error', (e) => fail(e));
            req = external_node_http_default().request({
                method: 'GET',
                path: target.path,
                headers: { ...target.headers, host: target.hostHeader ?? `${target.host}:${target.port}`, connection: 'close', 'user-agent': 'cutover-probe' },
                createConnection: () => s
            });
            req.on('error', fail);
            req.on('response', res => {
                partial = { status: res.statusCode, headers: res.headers, body: '' };
                let body = '';
                res.setEncoding('utf8');
                res.on('data', (chunk) => {
                    if (body.length < MAX_BODY)
                        body += chunk;
                });
                res.on('end', () => finish({ status: res.statusCode, headers: res.headers, body: body.slice(0, MAX_BODY) }));
                res.on('error', err => fail(err));
                res.on('aborted', () => fail(new Error(`the answer (HTTP ${res.statusCode}) was cut off`)));
            });
            req.end();
        }, (e) => fail(e));
    });
}
function describeProbe(r) {
    if (r.status === undefined)
        return `no HTTP answer (${sanitizeHostText(r.error ?? 'unknown error', 300)})`;
    const body = sanitizeHostText(r.body, 120);
    return `HTTP ${r.status}${body ? `: "${body}"` : ''}`;
}

;// CONCATENATED MODULE: ./src/host/docker-host.ts







function toInfo(info) {
    const state = info.State;
    const health = state.Health;
    const last = health?.Log?.at(-1);
    const addresses = {};
    for (const [net, settings] of Object.entries(info.NetworkSettings.Networks ?? {}))
        if (settings.IPAddress)
            addresses[net] = settings.IPAddress;
    return {
        id: info.Id,
        name: info.Name.replace(/^\//, ''),
        running: state.Running,
        restarting: state.Restarting,
        status: state.Status,
        exitCode: state.ExitCode,
        oomKilled: state.OOMKilled,
        restartCount: info.RestartCount,
        health: health ? { status: health.Status, lastExitCode: last?.ExitCode, lastOutput: last?.Output } : undefined,
        imageId: info.Image,
        labels: info.Config.Labels ?? {},
        addresses
    };
}
/** Docker's answer when a container is created from an image the host does not have. */
function isNoSuchImage(e) {
    return isNotFound(e) && /no such image/i.test(e.message ?? '');
}
/** The engine's ContainerHost over the Docker Engine API (dockerode, through the SSH tunnel). */
class DockerHost {
    docker;
    openTcp;
    registry;
    constructor(docker, openTcp, registry) {
        this.docker = docker;
        this.openTcp = openTcp;
        this.registry = registry;
    }
    async inspect(name) {
        try {
            return toInfo(await this.docker.getContainer(name).inspect());
        }
        catch (e) {
            if (isNotFound(e))
                return undefined;
            throw e;
        }
    }
    async listApp(app) {
        const list = await this.docker.listContainers({ all: true, filters: { label: [`${core_names/* LABEL */.d_.app}=${app}`] } });
        return list.map(c => ({
            name: c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12),
            state: c.State,
            status: c.Status,
            image: c.Labels[core_names/* LABEL */.d_.image] ?? c.Image,
            labels: c.Labels ?? {}
        }));
    }
    listAppUnits(app) {
        return this.listApp(app);
    }
    async ensureNetwork(name, labels) {
        try {
            await this.docker.getNetwork(name).inspect();
        }
        catch (e) {
            if (!isNotFound(e))
                throw e;
            try {
                await this.docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels });
            }
            catch (err) {
                if (!isConflict(err))
                    throw err;
            }
        }
    }
    async missingNetworks(names) {
        const found = await Promise.all(names.map(n => this.docker
            .getNetwork(n)
            .inspect()
            .then(() => true, e => {
            if (isNotFound(e))
                return false;
            throw e;
        })));
        return names.filter((_, i) => !found[i]);
    }
    async pull(image, progress) {
        await pullImage(this.docker, image, (0,image_ref/* credentialsFor */.Og)(image, this.registry), progress);
        const info = await this.image(image);
        if (!info)
            throw new Error(`Pull of ${image} reported success, but the image is not on the host`);
        return info;
    }
    async load(archivePath, bytes, progress) {
        let sent = 0;
        let lastReport = Date.now();
        // Counts what goes up the tunnel, for a progress line every 2 s.
        const counter = new external_node_stream_.Transform({
            transform(chunk, _enc, done) {
                sent += chunk.length;
                if (Date.now() - lastReport > 2000) {
                    lastReport = Date.now();
                    progress(`sent ${progressBar(sent, bytes)} ${(sent / 1e6).toFixed(1)} of ${(bytes / 1e6).toFixed(1)} MB`);
                }
                done(null, chunk);
            }
        });
        const upload = (0,external_node_fs_.createReadStream)(archivePath).pipe(counter);
        const response = (await this.docker.loadImage(upload, { quiet: false }));
        // Like a pull, the daemon reports a failed load as an event in the answer, not as an HTTP error.
        let failure;
        await new Promise((resolve, reject) => {
            this.docker.modem.followProgress(response, (err) => (err || failure ? reject(new Error(err?.message ?? failure)) : resolve()), (event) => {
                if (event.error)
                    failure = event.errorDetail?.message ?? event.error;
                const line = (event.stream ?? event.status ?? '').trim();
                if (line && !line.startsWith('Loading layer'))
                    progress(line);
            });
        });
        progress(`sent ${(sent / 1e6).toFixed(1)} MB; loaded`);
    }
    async image(image) {
        try {
            const info = await this.docker.getImage(image).inspect();
            return { id: info.Id, digest: info.RepoDigests?.[0] };
        }
        catch (e) {
            if (isNotFound(e))
                return undefined;
            throw e;
        }
    }
    async create(spec) {
        const created = await this.createContainer(spec).catch(async (e) => {
            // Another app's run on this host may prune the image between this run's pull and this create
            // (no container used it yet, so Docker let it go): pull it once more and create again.
            if (!isNoSuchImage(e))
                throw e;
            await pullImage(this.docker, spec.image, (0,image_ref/* credentialsFor */.Og)(spec.image, this.registry), () => undefined).catch((pull) => {
                throw new Error(`${spec.image} was removed from the host (by another app's cleanup, say) before ${spec.name} was created, and pulling it again failed: ${pull.message}`);
            });
            return this.createContainer(spec);
        });
        // A compose service is found by its service name on the networks it joins, as compose does.
        for (const extra of spec.extraNetworks) {
            const aliases = spec.networkAliases?.[extra] ?? spec.aliases;
            await this.docker.getNetwork(extra).connect({ Container: created.id, EndpointConfig: aliases?.length ? { Aliases: aliases } : undefined });
        }
        return created.id;
    }
    createContainer(spec) {
        return this.docker.createContainer({
            name: spec.name,
            Image: spec.image,
            Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
            Cmd: spec.command,
            Labels: spec.labels,
            Healthcheck: spec.healthcheck && {
                Test: spec.healthcheck.test,
                Interval: spec.healthcheck.intervalNs,
                Timeout: spec.healthcheck.timeoutNs,
                StartPeriod: spec.healthcheck.startPeriodNs,
                Retries: spec.healthcheck.retries
            },
            NetworkingConfig: spec.aliases?.length ? { EndpointsConfig: { [spec.network]: { Aliases: spec.aliases } } } : undefined,
            HostConfig: {
                NetworkMode: spec.network,
                // No restarts until the health gate passes, so a crash at boot shows its real exit
                // code instead of a restart loop; the user's policy is applied once healthy.
                RestartPolicy: { Name: 'no' },
                Binds: spec.volumes.length ? spec.volumes : undefined,
                Memory: spec.memoryBytes,
                NanoCpus: spec.nanoCpus,
                Init: false
            }
        });
    }
    async start(name) {
        await this.docker
            .getContainer(name)
            .start()
            .catch(e => {
            // 304: already started
            if (e.statusCode !== 304)
                throw e;
        });
    }
    async stop(name, graceSeconds) {
        await this.docker
            .getContainer(name)
            .stop({ t: graceSeconds })
            .catch(e => {
            const code = e.statusCode;
            if (code !== 304 && code !== 404)
                throw e;
        });
    }
    waitExit(name, timeoutMs, onLine, abort) {
        return waitForExit(this.docker.getContainer(name), timeoutMs, onLine, abort);
    }
    async remove(name) {
        await this.docker
            .getContainer(name)
            .remove({ force: true })
            .catch(e => {
            if (!isNotFound(e))
                throw e;
        });
    }
    async rename(name, newName) {
        await this.docker.getContainer(name).rename({ name: newName });
    }
    async setRestartPolicy(name, policy) {
        await this.docker.getContainer(name).update({ RestartPolicy: policy });
    }
    logs(name, lines) {
        return tailLogs(this.docker.getContainer(name), lines);
    }
    probe(address, port, path, timeoutMs) {
        return httpGet(this.openTcp, { host: address, port, path }, timeoutMs);
    }
    async appNetworks(app) {
        const list = await this.docker.listNetworks({ filters: { label: [`${core_names/* LABEL */.d_.app}=${app}`] } });
        return list.map(n => n.Name);
    }
    async removeNetwork(name, disconnect) {
        const network = this.docker.getNetwork(name);
        let info;
        try {
            info = (await network.inspect());
        }
        catch (e) {
            if (isNotFound(e))
                return { result: 'gone' };
            throw e;
        }
        const attached = Object.entries(info.Containers ?? {}).map(([id, c]) => ({ id, name: c.Name ?? id.slice(0, 12) }));
        const others = attached.filter(c => !disconnect.includes(c.name)).map(c => c.name);
        if (others.length)
            return { result: 'in-use', by: others };
        for (const c of attached)
            await network.disconnect({ Container: c.id, Force: true }).catch(e => (isNotFound(e) ? undefined : Promise.reject(e)));
        try {
            await network.remove();
            return { result: 'removed' };
        }
        catch (e) {
            if (isNotFound(e))
                return { result: 'gone' };
            // A container joined it since it was read.
            if (isConflict(e) || e.statusCode === 403)
                return { result: 'in-use', by: [] };
            throw e;
        }
    }
    async volumesOf(name) {
        try {
            const info = await this.docker.getContainer(name).inspect();
            return (info.Mounts ?? []).filter(m => m.Type === 'volume' && m.Name).map(m => m.Name);
        }
        catch (e) {
            if (isNotFound(e))
                return [];
            throw e;
        }
    }
    async removeVolume(name) {
        try {
            await this.docker.getVolume(name).remove();
            return 'removed';
        }
        catch (e) {
            if (isConflict(e))
                return 'in-use';
            if (isNotFound(e))
                return 'gone';
            throw e;
        }
    }
    async removeImage(imageId) {
        try {
            await this.docker.getImage(imageId).remove({ noprune: false });
            return 'removed';
        }
        catch (e) {
            if (isConflict(e))
                return 'in-use';
            if (isNotFound(e))
                return 'gone';
            throw e;
        }
    }
}

;// CONCATENATED MODULE: ./src/host/ledger-file.ts


/** Where an app's ledger lives on the host, relative to the SSH user's home. */
function ledgerPath(app) {
    return `.cutover/apps/${app}/releases.json`;
}
/**
 * The release ledger as a JSON file in the SSH user's home on the host (mode 0600 in 0700
 * directories). Writes go to a temporary file renamed over the old one, so a run killed mid-write
 * leaves the previous record whole. Independent of the proxy: it survives the proxy's removal.
 */
class LedgerFile {
    files;
    app;
    constructor(files, app) {
        this.files = files;
        this.app = app;
    }
    get where() {
        return `~/${ledgerPath(this.app)}`;
    }
    async read() {
        let text;
        try {
            text = await this.files.readFile(ledgerPath(this.app));
        }
        catch (e) {
            // The shell's answer names the file: keep what it says about it ("is a symbolic link", "is not a regular file").
            const said = e.message.replace(`the host refused: ${ledgerPath(this.app)} `, '');
            throw new LedgerError(`The release ledger ${this.where} on the host cannot be used: ${said}. cutover stops before changing anything rather than treat the host as empty and deploy over the live color. ` +
                `To recover: move it away (mv ${this.where} ${this.where}.bad), then run mode status with rebuild-ledger: true to rebuild it from the app's containers and the proxy's route.`);
        }
        if (text === undefined)
            return undefined;
        let parsed;
        let problem;
        try {
            parsed = JSON.parse(text);
            problem = ledgerProblem(parsed, this.app);
        }
        catch (e) {
            problem = `it is not valid JSON (${e.message})`;
        }
        if (problem) {
            throw new LedgerError(`The release ledger ${this.where} on the host is damaged: ${problem}. cutover stops rather than treat the host as empty and deploy over the live color; ` +
                `repair the file, or move it away (mv ${this.where} ${this.where}.bad) and run mode status with rebuild-ledger: true to rebuild it from the app's containers and the proxy's route.`);
        }
        return parsed;
    }
    async claims() {
        const text = await this.files.allLedgers().catch(() => '');
        const out = [];
        const lines = text.split('\n');
        for (let i = 0; i < lines.length; i++) {
            const m = /^@@ (.+)$/.exec(lines[i]);
            if (!m)
                continue;
            try {
                const rec = JSON.parse(lines[i + 1] ?? '');
                const routing = rec.routing;
                if (routing && typeof routing.proxy === 'string' && Array.isArray(routing.domains))
                    out.push({ app: m[1], routing });
                else
                    out.push({ app: m[1] });
            }
            catch {
                // another app's damaged record is that app's problem: its own run reports it
            }
        }
        return out;
    }
    async imagesOfOtherApps() {
        const text = await this.files.allLedgers();
        const out = [];
        const lines = text.split('\n');
        for (let i = 0; i < lines.length; i++) {
            const m = /^@@ (.+)$/.exec(lines[i]);
            if (!m || m[1] === this.app)
                continue;
            try {
                for (const image of recordedImages(JSON.parse(lines[i + 1] ?? '')))
                    out.push({ app: m[1], image });
            }
            catch {
                // another app's damaged record is that app's problem: its own run reports it
            }
        }
        return out;
    }
    async archive() {
        // A name no run reads (claims() reads releases.json only), stamped so that every removal is kept.
        const to = ledgerPath(this.app).replace(/releases\.json$/, `removed-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
        try {
            return (await this.files.moveFile(ledgerPath(this.app), to)) ? `~/${to}` : undefined;
        }
        catch (e) {
            throw new LedgerError(`Could not archive the release ledger ${this.where} on the host: ${e.message}`);
        }
    }
    async write(record) {
        try {
            await this.files.writeFile(ledgerPath(this.app), JSON.stringify(record, null, 1) + '\n');
        }
        catch (e) {
            throw new LedgerError(`Could not write the release ledger ${this.where} on the host: ${e.message}`);
        }
    }
}
/** Every image reference and digest a record names (its releases, pending, canary, preview and their workers). */
function recordedImages(rec) {
    const releases = [...(Array.isArray(rec.releases) ? rec.releases : []), rec.pending, rec.canary?.release, rec.preview?.release];
    const images = releases.flatMap(r => (r ? [r.image, r.digest, ...(Array.isArray(r.workers) ? r.workers.map(w => w.image) : [])] : []));
    return [...new Set(images.filter((i) => typeof i === 'string' && i.length > 0))];
}

// EXTERNAL MODULE: ./src/host/lock.ts
var lock = __webpack_require__(2703);
// EXTERNAL MODULE: ./src/proxy/capabilities.ts
var proxy_capabilities = __webpack_require__(3752);
;// CONCATENATED MODULE: ./src/proxy/haproxy-strategy.ts


/**
 * The release strategies' part of an app's HAProxy backend (issue #12): N servers per color.
 * Replica 1's server keeps the name of a one-container color (`blue`), so a backend written before
 * replicas existed is switched by the same runtime commands.
 */
/**
 * How every server finds its container: by name through Docker's DNS at run time, never while the
 * proxy starts or reloads. `last`: the address the previous process had (the server-state file a
 * reload is given, haproxy-runtime.ts), so a reload never leaves a server without one; `none`: no
 * address until the resolver answers. No `libc`: a name Docker's DNS does not know (a container not
 * there yet, the renewer when TLS is off) goes to the host's upstream resolver, and one that does not
 * answer held the start 20 s per name (issue #22).
 */
const SERVER_RESOLVE = 'resolvers docker init-addr last,none';
/** The server of one replica of a color in the app's backend. */
function serverName(color, replica) {
    return replica === 1 ? color : `${color}-${replica}`;
}
/**
 * Every server of both colors, `slots` per color: the live color's first `route.replicas` enabled,
 * every other one `disabled` (a switch enables them through the runtime API, so both colors declare
 * the same slots and a switch between sizes up to `slots` needs no reload).
 */
function renderServers(route, slots, canary, sticky = false) {
    const weights = canary ? canaryWeights(canary.weight, route.replicas ?? 1, canary.route.replicas ?? 1) : undefined;
    return core_names/* COLORS */.lm.flatMap(color => oneTo(slots).map(i => {
        const size = canary && color === canary.route.color ? (canary.route.replicas ?? 1) : color === route.color ? (route.replicas ?? 1) : 0;
        const weight = weights ? ` weight ${color === route.color ? weights.live : weights.canary}` : '';
        const state = i <= size ? weight : ' disabled';
        const cookie = sticky ? ` cookie ${serverName(color, i)}` : '';
        return `  server ${serverName(color, i)} ${(0,core_names/* containerName */.xN)(route.app, color, i)}:${route.appPort} ${SERVER_RESOLVE}${cookie}${state}\n`;
    })).join('');
}
/**
 * sticky: cookie. HAProxy names the server (so the color) a client got in a cookie and sends it there
 * again while that server is ready or draining; a server in maintenance (a color whose drain ended)
 * no longer holds its clients, and a failed connection is re-dispatched to another server.
 */
function renderStickiness(app, sticky) {
    if (!sticky)
        return '';
    return `  # sticky: cookie: a client keeps the server (and so the color) it first got until that color's drain ends
  cookie ${stickyCookie(app)} insert indirect nocache httponly
  option redispatch 1
`;
}
function stickyCookie(app) {
    return `cutover_${app.replace(/-/g, '_')}`;
}
/** HAProxy's largest server weight. */
const MAX_WEIGHT = 256;
/**
 * Per-server weights that give the canary color `percent` % of requests: each color's share is
 * its servers' weights summed, so the weights make up for unequal replica counts.
 */
function canaryWeights(percent, liveReplicas, canaryReplicas) {
    const live = (100 - percent) * canaryReplicas;
    const canary = percent * liveReplicas;
    const scale = Math.min(1, MAX_WEIGHT / Math.max(live, canary));
    return { live: Math.max(1, Math.round(live * scale)), canary: Math.max(1, Math.round(canary * scale)) };
}
const CANARY_MARKER = '# cutover-canary: ';
/** The backend file's record of a canary (the route comment keeps naming the live release). */
function canaryComment(canary) {
    return canary ? `${CANARY_MARKER}${JSON.stringify({ color: canary.route.color, releaseId: canary.route.releaseId, weight: canary.weight })}\n` : '';
}
function parseCanaryComment(text) {
    const line = text.split('\n').find(l => l.startsWith(CANARY_MARKER));
    if (!line)
        return undefined;
    try {
        const c = JSON.parse(line.slice(CANARY_MARKER.length));
        if ((c.color === 'blue' || c.color === 'green') && typeof c.releaseId === 'string' && typeof c.weight === 'number') {
            return { color: c.color, releaseId: c.releaseId, weight: c.weight };
        }
    }
    catch {
        // damaged: no canary
    }
    return undefined;
}
/**
 * A server pointed at a container that may be new: with `purge` (the server's color served no
 * request until now, or serves new containers), through maintenance first, which closes its idle
 * connections. HAProxy 2.6 keeps those across an address change, so requests would still reach the
 * container the new one replaced, and fail when it is removed (bench/stale-pool.mjs: the switch,
 * CANARY=1 and PREVIEW=1). Then its address, when known. The caller sets its weight and state.
 * A request still in flight on the server gives its connection back after the purge: the preview's
 * servers keep none (PREVIEW_SERVER_POOL); the app's keep theirs, a gap on 2.6 only for keep-alive
 * requests in flight from a rollback to the next deploy's switch (docs/benchmark.md).
 */
function repointCommands(server, address, port, purge) {
    return [...(purge ? [`set server ${server} state maint`] : []), ...(address ? [`set server ${server} addr ${address} port ${port}`] : [])];
}
/**
 * The runtime API commands of a canary: both colors ready at their weights (the canary's
 * containers at their current addresses), slots beyond each color's size in maintenance.
 * `idle`: the canary's color served no request until now (a drained standby, replaced by the
 * canary's containers): see repointCommands.
 */
function canaryCommands(be, live, canary, slots, addresses, idle = false) {
    const weights = canaryWeights(canary.weight, live.replicas ?? 1, canary.route.replicas ?? 1);
    const commands = [];
    for (const [route, weight, known] of [
        [live, weights.live, []],
        [canary.route, weights.canary, addresses]
    ]) {
        for (const i of oneTo(slots)) {
            const server = `${be}/${serverName(route.color, i)}`;
            if (i > (route.replicas ?? 1)) {
                commands.push(`set server ${server} state maint`);
                continue;
            }
            commands.push(...repointCommands(server, known[i - 1], route.appPort, idle && route === canary.route));
            commands.push(`set server ${server} weight ${weight}`, `set server ${server} state ready`);
        }
    }
    return commands;
}
const SERVER_LINE = /^\s*server\s+(blue|green)(?:-(\d+))?\s.*?(\sdisabled)?\s*$/;
/** The servers a backend file declares: slots per color, and how many of each color are enabled. */
function declaredServers(text) {
    let slots = 0;
    const enabled = { blue: 0, green: 0 };
    // The app's own backend only (the first): a preview backend after it enables the other color.
    const lines = text.split('\n');
    const second = lines.findIndex((l, i) => l.startsWith('backend ') && lines.slice(0, i).some(x => x.startsWith('backend ')));
    for (const line of second < 0 ? lines : lines.slice(0, second)) {
        const m = SERVER_LINE.exec(line);
        if (!m)
            continue;
        slots = Math.max(slots, Number(m[2] ?? 1));
        if (!m[3])
            enabled[m[1]]++;
    }
    return { slots, enabled };
}
/**
 * What a running backend keeps from its file until a reload: everything but the route and canary
 * records and each server's state and weight (those the runtime API changes). Two files of the
 * same shape are switched at runtime; a new shape (more servers, sticky on or off) needs a reload.
 */
function backendShape(text) {
    return text
        .split('\n')
        .filter(l => !l.startsWith('# cutover-'))
        .map(l => (SERVER_LINE.test(l) ? l.replace(/ weight \d+/, '').replace(/ disabled\s*$/, '') : l))
        .join('\n');
}
/** The slots a backend needs for this route: never fewer than it declares (shrinking would only cost a reload). */
function slotsFor(route, currentText) {
    return Math.max(route.replicas ?? 1, declaredServers(currentText).slots, 1);
}
/**
 * The runtime API commands of a switch: the new color's replicas take new requests (at their
 * current addresses when known), its slots beyond the size go to maintenance, the other color drains
 * (established connections, WebSockets above all, stay; the engine stops it after drain-timeout).
 * `idle`: the new color served no request until now: see repointCommands.
 */
function switchCommands(be, route, slots, addresses, other = 'drain', idle = false) {
    const otherColor = route.color === 'blue' ? 'green' : 'blue';
    const size = route.replicas ?? 1;
    const commands = [];
    for (const i of oneTo(slots)) {
        const server = `${be}/${serverName(route.color, i)}`;
        if (i > size) {
            commands.push(`set server ${server} state maint`);
            continue;
        }
        // A container just created: its address now rather than at the next DNS resolution.
        commands.push(...repointCommands(server, addresses[i - 1], route.appPort, idle));
        // weight 1: the file's weight, which a canary may have changed
        commands.push(`set server ${server} weight 1`, `set server ${server} state ready`);
    }
    // maint instead (a preview on the other color): not even sticky clients are sent there.
    for (const i of oneTo(slots))
        commands.push(`set server ${be}/${serverName(otherColor, i)} state ${other}`);
    return commands;
}
/** The page of `mode: maintenance`, in the config directory (HAProxy reads it when it loads the config). */
function maintenancePageFile(app) {
    return `maintenance-${app}.html`;
}
/** The app's maintenance flag: the key `on` present = the page is served (changed at runtime with add/clear map). */
function maintenanceMapFile(app) {
    return `maintenance-${app}.map`;
}
const MAINTENANCE_HEADER = 'X-Cutover-Maintenance';
/** Seconds clients are told to wait (Retry-After). */
const RETRY_AFTER_S = 60;
function renderMaintenanceMap(on) {
    return `# Managed by cutover: "on" while mode maintenance serves the page.\n${on ? 'on 1\n' : ''}`;
}
/** What the page's file holds (read once at a reload): the HTML, or the built-in page. */
function maintenancePage(html) {
    return html ?? DEFAULT_MAINTENANCE_PAGE;
}
const DEFAULT_MAINTENANCE_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Down for maintenance</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36em; margin: 4em auto; padding: 0 1em">
<h1>Down for maintenance</h1>
<p>This site is being worked on and will be back shortly. Please try again in a few minutes.</p>
</body>
</html>
`;
/**
 * The backend's maintenance rule: while the flag is on, every request gets the page with a 503 and
 * Retry-After, except cutover's own verification (a request carrying the host's verify token), so a
 * deploy during maintenance is still verified. Health probes go to the containers directly.
 */
function renderMaintenanceRule(dir, app, verifyMap) {
    return `  # mode maintenance: a 503 page instead of the app while ${maintenanceMapFile(app)} holds "on" (cutover's verification still passes)
  http-request return status 503 content-type "text/html; charset=utf-8" file ${dir}/${maintenancePageFile(app)} hdr Retry-After ${RETRY_AFTER_S} hdr Cache-Control no-store hdr ${MAINTENANCE_HEADER} on if { str(on),map(${dir}/${maintenanceMapFile(app)}) -m found } !{ var(txn.cutover_verify),map(${verifyMap}) -m found }
`;
}
/** Whether a backend file has the maintenance rule (files written before it existed do not). */
function hasMaintenanceRule(text, app) {
    return text.includes(`map(`) && text.includes(maintenanceMapFile(app));
}
/** The route a backend file was rendered for, to render it again (with the rules of this version). */
function routeOfFile(app, text, parsed) {
    if (!parsed)
        return undefined;
    const port = /^\s*server\s+\S+\s+\S+:(\d+)\s/m.exec(text);
    if (!port)
        return undefined;
    return { app, color: parsed.color, releaseId: parsed.releaseId, appPort: Number(port[1]), replicas: Math.max(1, declaredServers(text).enabled[parsed.color]) };
}
/** The runtime commands that end a color's drain: its servers to maintenance (what its file says: disabled). */
function endDrainCommands(be, color, slots) {
    return oneTo(Math.max(1, slots)).map(i => `set server ${be}/${serverName(color, i)} state maint`);
}

;// CONCATENATED MODULE: ./src/proxy/proxy-container.ts





/** What every router needs to manage its own containers on the host, whatever proxy it runs. */
class ProxyError extends Error {
    name = 'ProxyError';
}
async function underLock(lockProxy, fn) {
    const lock = await lockProxy();
    try {
        return await fn();
    }
    finally {
        lock.release();
    }
}
/** Creates the proxy's own network unless it exists (another app's run may create it at the same moment). */
async function ensureProxyNetwork(docker, name) {
    try {
        await docker.getNetwork(name).inspect();
    }
    catch (e) {
        if (!isNotFound(e))
            throw e;
        await docker
            .createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.proxy]: 'true' } })
            .catch(err => {
            if (!isConflict(err))
                throw err;
        });
    }
}
/** A container's details, or undefined when there is none of that name. */
async function inspectIfExists(container) {
    try {
        return await container.inspect();
    }
    catch (e) {
        if (isNotFound(e))
            return undefined;
        throw e;
    }
}
/**
 * Creates a container of a proxy, or takes the one another app's deploy created under that name at
 * the same moment; its details either way.
 */
async function createOrAdopt(docker, options) {
    try {
        await docker.createContainer(options);
    }
    catch (e) {
        if (!isConflict(e))
            throw e;
    }
    const info = await inspectIfExists(docker.getContainer(options.name));
    if (!info)
        throw new ProxyError(`The proxy container ${options.name} vanished right after it was created`);
    return info;
}
/** Pulls the proxy image unless the host has it (credentials only if given for its registry). */
async function ensureProxyImage(docker, image, registry, log) {
    try {
        await docker.getImage(image).inspect();
    }
    catch (e) {
        if (!isNotFound(e))
            throw e;
        log.info(`Pulling the proxy image ${image}`);
        await pullImage(docker, image, (0,image_ref/* credentialsFor */.Og)(image, registry), line => log.info(`  ${line}`));
    }
}
/**
 * Asks the proxy's public port (from the host, over the tunnel) for `path` with the app's Host
 * until the answer provably comes from the release, or the time is up.
 */
async function verifyThroughProxy(openTcp, settings, ask, path, timeoutMs, 
/** Where the proxy is asked (edge mode: its probe port on its network; see haproxy-lifecycle.ts). */
entry = { host: '127.0.0.1', port: settings.port }) {
    const started = Date.now();
    // A wildcard-only app is asked for a name its wildcard matches.
    const hostHeader = settings.domains.find(d => !d.startsWith('*')) ?? settings.domains[0]?.replace(/^\*/, 'cutover-verify') ?? 'localhost';
    const decode = ask.decode ?? (v => (typeof v === 'string' ? v : undefined));
    let confirmed = ask.confirmAfterMs === 0;
    let last;
    for (;;) {
        last = await httpGet(openTcp, { host: entry.host, port: entry.port, path, hostHeader, headers: ask.token ? { [ask.tokenHeader]: ask.token } : {} }, 5000);
        // The release header names the release exactly: an answer from another app, or from a reload
        // not yet finished, does not count.
        const ok = decode(last.headers[ask.releaseHeader]) === ask.releaseId && last.status !== undefined && last.status < 500;
        if (ok && !confirmed) {
            confirmed = true;
            await new Promise(r => setTimeout(r, ask.confirmAfterMs));
            continue;
        }
        if (ok || Date.now() - started > timeoutMs) {
            // The failure message quotes the header: show it decoded.
            const shown = decode(last.headers[ask.releaseHeader]);
            if (shown !== undefined)
                last.headers[ask.releaseHeader] = shown;
            return { ok, last, ms: Date.now() - started };
        }
        confirmed = ask.confirmAfterMs === 0;
        await new Promise(r => setTimeout(r, 20));
    }
}
/** Asks the proxy (as a client would, no verify token) until the maintenance page is (on) or is not (off) what it serves. */
async function confirmMaintenance(openTcp, settings, on, timeoutMs, entry = { host: '127.0.0.1', port: settings.port }) {
    const started = Date.now();
    const hostHeader = settings.domains.find(d => !d.startsWith('*')) ?? settings.domains[0]?.replace(/^\*/, 'cutover-verify') ?? 'localhost';
    for (;;) {
        const last = await httpGet(openTcp, { host: entry.host, port: entry.port, path: '/', hostHeader }, 5000);
        const page = last.status === 503 && last.headers[MAINTENANCE_HEADER.toLowerCase()] === 'on';
        const ok = last.status !== undefined && page === on;
        if (ok || Date.now() - started > timeoutMs)
            return { ok, last, ms: Date.now() - started };
        await new Promise(r => setTimeout(r, 50));
    }
}
/**
 * ` again: it had stopped at <time> (exit code N, killed by the kernel for memory), N s ago; nothing
 * answered since` for a proxy (HAProxy or Caddy) that ran before and stopped; undefined for one never started.
 */
function downSince(info, now = Date.now()) {
    const finished = Date.parse(info.State.FinishedAt ?? '');
    if (!Number.isFinite(finished) || finished <= 0)
        return undefined;
    const how = info.State.OOMKilled ? ', killed for lack of memory' : ` with exit code ${info.State.ExitCode}`;
    return ` again: it had stopped at ${info.State.FinishedAt}${how}, ${Math.max(0, Math.round((now - finished) / 1000))} s ago, and no app on it answered since`;
}

;// CONCATENATED MODULE: ./src/proxy/caddy-admin.ts



class CaddyAdminError extends Error {
    status;
    name = 'CaddyAdminError';
    constructor(message, 
    /** Caddy's HTTP status, when it answered. */
    status) {
        super(message);
        this.status = status;
    }
}
/** How long one admin request may take (a /load waits for the old servers to stop accepting, not for their drain). */
const REQUEST_TIMEOUT_MS = 15_000;
/**
 * Caddy's admin API on its Unix socket. Caddy refuses any Host header it does not expect on a
 * socket, so requests carry an empty one. Every request is bounded by one hard timer (SSH channels
 * have no socket timeouts).
 */
class CaddyAdmin {
    proxyName;
    socketPath;
    open;
    constructor(proxyName, socketPath, open) {
        this.proxyName = proxyName;
        this.socketPath = socketPath;
        this.open = open;
    }
    /** One request; resolves with the body of a 2xx answer, throws CaddyAdminError with Caddy's own error otherwise. */
    async request(method, path, body, timeoutMs = REQUEST_TIMEOUT_MS) {
        const stream = await this.open().catch((e) => {
            throw new CaddyAdminError(`Could not open the admin socket ${this.socketPath} of the proxy ${this.proxyName}: ${e.message}`);
        });
        return new Promise((resolve, reject) => {
            let settled = false;
            const finish = (e, text = '') => {
                if (settled)
                    return;
                settled = true;
                clearTimeout(timer);
                req.destroy();
                stream.destroy();
                if (e)
                    reject(e);
                else
                    resolve(text);
            };
            const timer = setTimeout(() => finish(new CaddyAdminError(`The admin API of the proxy ${this.proxyName} did not answer ${method} ${path} within ${timeoutMs} ms`)), timeoutMs);
            // setHost false: Node would otherwise put localhost:80 in place of the empty Host.
            const headers = { host: '' };
            if (body !== undefined)
                headers['content-type'] = 'application/json';
            const req = external_node_http_default().request({ method, path, headers, setHost: false, createConnection: () => stream }, res => {
                const chunks = [];
                res.on('data', (c) => chunks.push(c));
                res.on('error', (e) => finish(e));
                res.on('end', () => {
                    const text = Buffer.concat(chunks).toString('utf8');
                    const status = res.statusCode ?? 0;
                    if (status >= 200 && status < 300)
                        return finish(undefined, text);
                    finish(new CaddyAdminError(`Caddy (${this.proxyName}) answered ${status} to ${method} ${path}: ${caddyError(text)}`, status));
                });
            });
            req.on('error', (e) => finish(new CaddyAdminError(`The admin API of the proxy ${this.proxyName} failed on ${method} ${path}: ${e.message}`)));
            req.end(body);
        });
    }
    /** The running configuration (null when Caddy runs none). */
    async config() {
        return JSON.parse((await this.request('GET', '/config/')) || 'null');
    }
    /**
     * Replaces the whole configuration: Caddy checks it, starts the new servers on the same
     * listeners and stops the old ones gracefully; a refused configuration leaves the old one running.
     */
    async load(config) {
        await this.request('POST', '/load', JSON.stringify(config));
    }
    /** Waits until the admin API answers (a started container takes a moment). */
    async waitForAdmin(timeoutMs, logs) {
        const started = Date.now();
        for (;;) {
            try {
                await this.request('GET', '/config/', undefined, 5000);
                return;
            }
            catch (e) {
                if (Date.now() - started > timeoutMs) {
                    const tail = await logs().catch(() => '');
                    throw new ProxyError(`The proxy ${this.proxyName} did not answer on its admin socket ${this.socketPath} within ${timeoutMs / 1000} s (${e.message}); ` +
                        `the SSH user must be root or in the group of the host's Docker socket. Its last log lines: ${(0,host_text/* sanitizeHostText */.l)(tail, 800)}`);
                }
            }
            await new Promise(r => setTimeout(r, 100));
        }
    }
}
/** Caddy's `{"error": "..."}` answer as a sentence (anything else, shortened). */
function caddyError(text) {
    try {
        const parsed = JSON.parse(text);
        if (typeof parsed.error === 'string')
            return (0,host_text/* sanitizeHostText */.l)(parsed.error, 600);
    }
    catch {
        // not JSON: quoted as it is
    }
    return (0,host_text/* sanitizeHostText */.l)(text.trim() || '(no body)', 600);
}

;// CONCATENATED MODULE: ./src/acme/layout.ts
/**
 * The layout the HAProxy proxy and its ACME renewer container share: the config volume, the admin
 * socket's directory, the challenge port and the certificate files. Both sides import it from here
 * (the renewer is bundled on its own and must not load the proxy's code).
 */
/** Where the config volume is mounted in the proxy container (and in the renewer's). */
const HAPROXY_CONF_DIR = '/usr/local/etc/haproxy/cutover';
/** Where the host directory holding the admin socket is mounted in the proxy container. */
const HAPROXY_RUN_DIR = '/run/cutover';
const HAPROXY_SOCKET = 'admin.sock';
/** The port the ACME renewer answers HTTP-01 challenges on, inside its container. */
const ACME_CHALLENGE_PORT = 8402;
const ACME_PATH = '/.well-known/acme-challenge/';
/** An app's certificate and key, in one file readable only by root (HAProxy reads it as root). */
function certFile(app) {
    return `cert-${app}.pem`;
}

;// CONCATENATED MODULE: ./src/proxy/nginx-config.ts

/**
 * Two nginx tiers, both from the proxy image:
 * - the edge publishes proxy-port and holds the clients' keep-alive connections. Its config
 *   changes only when an app is added or its domains change, so a deploy never reloads it:
 *   a reload closes idle keep-alive connections, racing requests already on the wire.
 * - the switch holds the blue/green upstreams and is reloaded at every switch. The edge opens a
 *   fresh connection to it per request, so nothing idle is there for a reload to cut, while
 *   old switch workers finish in-flight requests and keep upgraded (WebSocket) connections.
 */
const EDGE_PORT = 80;
const SWITCH_PORT = 8080;
function appConfigFile(app) {
    return `cutover-app-${app}.conf`;
}
const COMMON_CONFIG_FILE = 'cutover-00-common.conf';
/** The switch tier's virtual host for an app: the edge sends the app's requests with this Host. */
function switchHost(app) {
    return `${app}.cutover.internal`;
}
function edgeCommonConfig(switchContainer) {
    return `# Managed by cutover: settings shared by every app on the edge.
map $http_upgrade $cutover_edge_connection {
  default upgrade;
  '' close;
}
upstream cutover_switch {
  server ${switchContainer}:${SWITCH_PORT} max_fails=0;
}
# First in load order, so nginx's implicit default: a host name no app claims gets a 404, never
# another app. An app deployed without domains overrides it with an explicit default_server.
server {
  listen ${EDGE_PORT};
  return 404;
}
`;
}
const SWITCH_COMMON_CONFIG = `# Managed by cutover: settings shared by every app on the switch.
# Containers by name through Docker's DNS, per request (issue #22): the switch resolves no app's
# container while it loads, so one app's missing container is that app's 502, never a switch that
# cannot start or reload for every app. A reload (every switch) starts with an empty cache.
resolver 127.0.0.11 valid=5s ipv6=off;
resolver_timeout 2s;
map $http_upgrade $cutover_connection {
  default upgrade;
  '' '';
}
# A request for an app the switch has no route for never reaches another app.
server {
  listen ${SWITCH_PORT} default_server;
  return 503;
}
`;
/** Request header that asks the switch which release answered (see renderSwitchConfig). */
const VERIFY_HEADER = 'x-cutover-verify';
const RELEASE_HEADER = 'x-cutover-release';
const ROUTE_MARKER = '# cutover-route: ';
/** Before the ledger existed, the switch file carried the whole release state. */
const LEGACY_MARKER = '# cutover-state: ';
/** The line that records, in the route file, which release it routes to and the verify token. */
function routeComment(route, token) {
    return ROUTE_MARKER + JSON.stringify({ color: route.color, releaseId: route.releaseId, token });
}
/** Which release a route file routes to (and its verify token); undefined when it has no (readable) marker. */
function parseRouteComment(app, text) {
    for (const line of text.split('\n')) {
        try {
            if (line.startsWith(ROUTE_MARKER)) {
                const r = JSON.parse(line.slice(ROUTE_MARKER.length));
                if ((r.color === 'blue' || r.color === 'green') && typeof r.releaseId === 'string') {
                    return { color: r.color, releaseId: r.releaseId, token: typeof r.token === 'string' ? r.token : undefined };
                }
            }
            if (line.startsWith(LEGACY_MARKER)) {
                const legacy = parseLegacy(app, line);
                if (legacy)
                    return { color: legacy.color, releaseId: legacy.id };
            }
        }
        catch {
            // not ours, or damaged: no route
        }
    }
    return undefined;
}
function parseLegacy(app, line) {
    const s = JSON.parse(line.slice(LEGACY_MARKER.length));
    if ((s.color !== 'blue' && s.color !== 'green') || typeof s.image !== 'string' || s.app !== app)
        return undefined;
    // The release header value that versions before the ledger sent: app, color and time.
    return { ...s, id: `${s.app} ${s.color} ${s.deployedAt}` };
}
/** The ledger a route file written before the ledger existed implies: the live release and the previous one. */
function legacyLedger(app, text) {
    const line = text.split('\n').find(l => l.startsWith(LEGACY_MARKER));
    if (!line)
        return undefined;
    let s;
    try {
        s = parseLegacy(app, line);
    }
    catch {
        return undefined;
    }
    if (!s)
        return undefined;
    const imported = { app, configHash: '', kind: 'deploy', by: {} };
    const live = { ...imported, id: s.id, instance: s.id, color: s.color, image: s.image, liveSince: s.deployedAt };
    const previousId = `${app} ${s.previous?.color} imported`;
    const previous = s.previous && { ...imported, id: previousId, instance: previousId, color: s.previous.color, image: s.previous.image, liveSince: '' };
    return { version: 1, app, releases: previous ? [live, previous] : [live] };
}
/** The edge's server block for an app: routes by domain to the app's virtual host on the switch. */
function renderEdgeConfig(app, domains) {
    const listen = domains.length ? `listen ${EDGE_PORT};` : `listen ${EDGE_PORT} default_server;`;
    return `# Managed by cutover: do not edit, deploys rewrite it.
server {
  ${listen}
  server_name ${domains.length ? domains.join(' ') : '_'};
  client_max_body_size 100m;
  location / {
    proxy_pass http://cutover_switch;
    proxy_http_version 1.1;
    proxy_set_header Host ${switchHost(app)};
    proxy_set_header X-Cutover-Host $http_host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $cutover_edge_connection;
    proxy_read_timeout 1h;
    proxy_send_timeout 1h;
  }
}
`;
}
/**
 * The switch's server block for an app: the one place the live color is written. The live
 * container is named in a variable, so nginx resolves it per request (SWITCH_COMMON_CONFIG's
 * resolver), not when it loads.
 */
function renderSwitchConfig(route, token) {
    const state = route;
    const appPort = route.appPort;
    const target = `cutover_target_${state.app.replace(/-/g, '_')}`;
    const releaseVar = `cutover_release_${state.app.replace(/-/g, '_')}`;
    return `# Managed by cutover: do not edit, deploys rewrite it.
${routeComment(route, token)}
# Only cutover's own verification learns which release answered: it sends the token written here,
# which only the host knows (any other value, or none, gets no header).
map $http_x_cutover_verify $${releaseVar} {
  default '';
  '${token}' '${route.releaseId}';
}
server {
  listen ${SWITCH_PORT};
  server_name ${switchHost(state.app)};
  client_max_body_size 100m;
  location / {
    set $${target} ${(0,core_names/* containerName */.xN)(state.app, state.color)}:${appPort};
    proxy_pass http://$${target};
    proxy_http_version 1.1;
    proxy_set_header Host $http_x_cutover_host;
    proxy_set_header X-Cutover-Host "";
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $cutover_connection;
    # let the edge see the app's choice about buffering (Server-Sent Events)
    proxy_pass_header X-Accel-Buffering;
    proxy_buffering off;
    proxy_read_timeout 1h;
    proxy_send_timeout 1h;
    add_header X-Cutover-Release $${releaseVar} always;
  }
}
`;
}
const LEGACY_UPSTREAM = /^upstream cutover_\S+ \{\n\s*(?:#.*\n\s*)?server (\S+):(\d+) /m;
/**
 * A switch file written before names were resolved per request (an upstream block, resolved when
 * nginx loads): the same route rendered the current way, or undefined when it is not one.
 */
function migratedSwitchConfig(app, text) {
    const upstream = LEGACY_UPSTREAM.exec(text);
    const route = parseRouteComment(app, text);
    if (!upstream || !route || route.token === undefined)
        return undefined;
    return renderSwitchConfig({ app, color: route.color, releaseId: route.releaseId, appPort: Number(upstream[2]) }, route.token);
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-preview.ts



/**
 * preview-domains (issue #12): a second backend in the app's file, reached by the preview domains
 * only, whose servers are the color that is NOT live: the preview waiting for mode promote, or, when
 * none waits, the standby while it runs. Nothing running there: a 503 that says so. It has no
 * maintenance rule (mode maintenance leaves previews reachable) and no stickiness.
 */
function previewBackendName(app) {
    // App names have no underscore: no app's own backend can be named like another app's preview.
    return `app_${app}_preview`;
}
const NO_PREVIEW_TEXT = 'no preview is running';
/**
 * No idle connection is kept to a preview server. Its servers are re-pointed while they serve (the
 * standby, under load, replaced by a preview): a request in flight through maintenance would give
 * its connection back to the pool after the purge, and keep-alive reuse would send later requests to
 * the replaced container, for as long as it runs. A preview domain is a tester's, not the app's
 * traffic: a new connection per request costs little there.
 */
const PREVIEW_SERVER_POOL = 'pool-max-conn 0';
/** The preview backend: the live color's slots disabled, the idle color's enabled (missing containers drop out by DNS). */
function renderPreviewBackend(route, slots, tlsRules) {
    const be = previewBackendName(route.app);
    const idle = (0,core_names/* otherColor */.IP)(route.color);
    const servers = core_names/* COLORS */.lm.flatMap(color => oneTo(slots).map(i => `  server ${serverName(color, i)} ${(0,core_names/* containerName */.xN)(route.app, color, i)}:${route.appPort} ${SERVER_RESOLVE} ${PREVIEW_SERVER_POOL}${color === idle ? '' : ' disabled'}\n`)).join('');
    return `
# preview-domains: the color that is not live (a preview waiting for mode promote, else the standby)
backend ${be}
  http-request del-header x-cutover-verify
  http-response del-header x-cutover-release
${tlsRules}  # nothing of the idle color runs: say so rather than a bare 503
  http-request return status 503 content-type text/plain string "${NO_PREVIEW_TEXT} for ${route.app}" hdr Cache-Control no-store if { nbsrv(${be}) eq 0 }
${servers}`;
}
/**
 * Runtime API commands that point the preview backend at the color that is not live: the live
 * color's servers to maintenance, the idle color's ready (at `addresses`, by replica, when known).
 * The idle color's servers are purged (repointCommands): a preview's new containers take servers
 * that served the standby they replaced. For a color live until now they are in maintenance already.
 */
function previewCommands(app, live, slots, appPort, addresses) {
    const be = previewBackendName(app);
    const idle = (0,core_names/* otherColor */.IP)(live);
    const commands = oneTo(slots).map(i => `set server ${be}/${serverName(live, i)} state maint`);
    for (const i of oneTo(slots)) {
        const server = `${be}/${serverName(idle, i)}`;
        commands.push(...repointCommands(server, addresses[i - 1], appPort, true), `set server ${server} state ready`);
    }
    return commands;
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-holder-config.ts

/**
 * The holder's switch (issue #22): the holder container of a proxy owns its network namespace,
 * published ports and Docker networks, and runs HAProxy on the shared configuration like any
 * generation. Once a newer generation has taken the listening sockets (`-x`), the holder is reloaded
 * with this file saying "off": the base configuration then declares neither the admin socket nor a
 * listener for it, so the holder's process finishes what it serves and idles, keeping the namespace.
 * The test is on HAPROXY_MWORKER_REEXEC (set by HAProxy's master on a reload only): a holder that
 * starts afresh (a restart, a reboot) always serves, whatever this file says.
 *
 * The switch is a *.cfg of the config directory that sorts before the base (HOLDER_SWITCH_CFG), so
 * every HAProxy proxy container reads it, also one made by an earlier cutover whose command line
 * loads the directory only: such a container is a holder too, taken over with no re-creation.
 * Generations load the same directory and skip it: they are started with GENERATION_VAR set.
 */
/**
 * The holder's own file, first on its command line. In the config volume (it outlives a reboot,
 * which empties the host's /run), and not named *.cfg, so the generations, which load every *.cfg
 * of the volume, never read it.
 */
const HOLDER_FILE = 'holder-switch.conf';
const HOLDER_FILE_PATH = `${HAPROXY_CONF_DIR}/${HOLDER_FILE}`;
/** The switch every holder reads: loaded first of the directory ('0-' sorts before '00-base.cfg'). */
const HOLDER_SWITCH_CFG = '0-holder-switch.cfg';
/** Defined only in a holder reloaded "off". */
const HOLDER_OFF_VAR = 'CUTOVER_HOLDER_OFF';
/** Set in the environment of every generation container: the switch is not theirs. */
const GENERATION_VAR = 'CUTOVER_GENERATION';
/**
 * The holder's file: serving, or off since its start at `holderStartedAt` (a holder started again
 * since then serves, and must be turned off again while a generation is live).
 */
function renderHolderFile(off) {
    if (!off)
        return `# Managed by cutover: this holder serves (no newer HAProxy generation is live).\n`;
    return (`# Managed by cutover: a newer HAProxy generation serves; this holder stops serving when reloaded.\n` +
        `# off-since-start: ${off.holderStartedAt}\n` +
        `.if !defined(${GENERATION_VAR})\n.if defined(HAPROXY_MWORKER_REEXEC)\nglobal\n  setenv ${HOLDER_OFF_VAR} 1\n.endif\n.endif\n`);
}
/** The holder start this file turned it off for (undefined: serving). */
function holderOffSince(text) {
    return /^# off-since-start: (\S+)$/m.exec(text ?? '')?.[1];
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-config.ts





/**
 * One HAProxy container in front of every app on the host (issue #15, bench/PROXY-DESIGN.md):
 * a switch is two `set server` lines on its admin socket (no reload: every connection stays where
 * it is); a reload (an app or a domain added) is HAProxy's master-worker reload with
 * `option idle-close-on-response`, which drops nothing either.
 *
 * Files, in a config directory HAProxy loads in name order (only `*.cfg`):
 * - 00-base.cfg: global settings, defaults, the resolver and the one frontend (shared);
 * - domains.map, wildcards.map: host name -> backend (shared);
 * - app-<app>.cfg: the app's backend, its live color enabled, the other `disabled`;
 * - verify-<app>.map: cutover's verify token -> release id.
 */
// The files and paths the renewer container shares with the proxy (src/acme/layout.ts).

const HAPROXY_PORT = 80;
/** The container port HAProxy terminates TLS on (published at https-port). */
const HAPROXY_HTTPS_PORT = 443;
/**
 * HTTPS relayed by `<proxy>-https` (issue #22) for a proxy created without an HTTPS port: TLS behind
 * the relay's PROXY protocol header, never published, accepted only from the proxy's own network.
 */
const HAPROXY_RELAYED_HTTPS_PORT = 8443;
/** metrics (issue #24): the Prometheus endpoint inside the container, published only at the address 'metrics' gives. */
const HAPROXY_METRICS_PORT = 8405;
/** metrics: each app's live release as Prometheus labels (`<app> color="green",release="..."`), kept by the runtime API. */
const RELEASES_MAP = 'releases.map';
const EMPTY_RELEASES_MAP = '# Managed by cutover: app -> its live release as Prometheus labels.\n';
/**
 * canary-steps (issue #24): a bounded in-memory ring of one short line per request, written only
 * for an app's backend that has an entry in REQUEST_LOG_MAP (set through the runtime API for the
 * length of a canary step, never in the file): every other request is logged nowhere.
 */
const REQUEST_RING = 'cutover-requests';
/** The ring's bytes: at ~40 bytes a line it keeps the latest ~6,000 requests (see haproxy-request-log.ts). */
const REQUEST_RING_BYTES = 262_144;
const REQUEST_LOG_MAP = 'request-log.map';
const EMPTY_REQUEST_LOG_MAP = '# Managed by cutover: backend -> the canary step its requests are logged under (runtime API only).\n';
const BASE_FILE = '00-base.cfg';
const DOMAINS_MAP = 'domains.map';
const WILDCARDS_MAP = 'wildcards.map';
/** The key of domains.map that names the app deployed without domains (not a valid host name of another app). */
const DEFAULT_KEY = 'cutover.default';
const NOT_FOUND_BACKEND = 'cutover_not_found';
/** crt-list of every app's certificate (issue #10); empty until an app has TLS. */
const CERTS_LIST = 'certs.list';
/** Host names whose certificates come from ACME: their HTTP-01 challenges go to the renewer. */
const ACME_MAP = 'acme.map';
const ACME_BACKEND = 'cutover_acme';
/**
 * The servers' state (addresses above all) handed from a process to the one a reload starts
 * (`init-addr last`). Written just before a reload and emptied right after it, so a proxy that
 * starts (or restarts) never takes stale addresses: its servers wait for Docker's DNS instead.
 * Not a *.cfg: HAProxy does not read it as configuration.
 */
const SERVER_STATE_FILE = 'servers.state';
/**
 * Sources whose connections start with a PROXY protocol header (v1 or v2; issue #23): the
 * trusted-proxies of every app with proxy-protocol true (src/proxy/haproxy-edge.ts). From any other
 * source a connection is plain HTTP, as before.
 */
const PROXY_PROTOCOL_MAP = 'proxy-protocol.map';
/**
 * cutover's own checks through the proxy when no public port serves them plainly (proxy-port none,
 * proxy-protocol): the same frontend, never published and never expecting a PROXY header, reached
 * at the proxy's address on its own network.
 */
const HAPROXY_PROBE_PORT = 8406;
/** A state file naming no server (its format version only). */
const EMPTY_SERVER_STATE = '1\n';
/** The renewer container of a proxy (tls auto). */
function acmeContainerName(proxyName) {
    return `${proxyName}-acme`;
}
/** The host directory (bind-mounted at HAPROXY_RUN_DIR) that holds the proxy's admin socket. */
function hostRunDir(proxyName) {
    return `/run/cutover/${proxyName}`;
}
function backendName(app) {
    return `app_${app}`;
}
function appFile(app) {
    return `app-${app}.cfg`;
}
function verifyMapFile(app) {
    return `verify-${app}.map`;
}
/** A release id as the verify map carries it: one word (map values and CLI arguments split on spaces). */
function encodeRelease(releaseId) {
    return encodeURIComponent(releaseId);
}
function decodeRelease(value) {
    if (typeof value !== 'string')
        return undefined;
    try {
        return decodeURIComponent(value);
    }
    catch {
        return undefined;
    }
}
/**
 * HAProxy's threads on a host of `cpus` CPUs: one on two CPUs or fewer, HAProxy's default (one per
 * CPU) above. The proxy shares the host with the apps it serves; with the second core busy with
 * them, a second thread cost ~10 % more CPU per request in every load of bench/steady.mjs
 * (docs/benchmark.md). Hosts with more CPUs were not measured, so they keep the default.
 */
function proxyThreads(cpus) {
    return cpus !== undefined && cpus <= 2 ? 1 : undefined;
}
/**
 * Global settings, defaults, the DNS resolver and the frontend. `hardStopAfterS` bounds how long a
 * process left behind by a reload keeps WebSockets: at least drain-timeout.
 */
function renderBaseConfig(hardStopAfterS, proxyName, { adminGroup, cpus, metrics = false, httpsRelay } = {}) {
    const dir = HAPROXY_CONF_DIR;
    const threads = proxyThreads(cpus);
    // Root, and the group of the Docker socket when it has one: whoever may use Docker may switch.
    const access = adminGroup ? `mode 660 gid ${adminGroup}` : 'mode 600';
    return `# Managed by cutover: settings shared by every app on this proxy.
global
  maxconn 8000
${threads ? `  # one thread on a host of ${cpus} CPU${cpus === 1 ? '' : 's'}: see proxyThreads in cutover's source\n  nbthread ${threads}\n` : ''}  # The admin socket is in a host directory, reached over SSH only: never on a network the apps share.
  # A holder handing over to a generation (haproxy-holder.ts) keeps neither the socket nor a listener.
.if !defined(${HOLDER_OFF_VAR})
  stats socket ${HAPROXY_RUN_DIR}/${HAPROXY_SOCKET} ${access} level admin expose-fd listeners
.endif
  stats timeout 1m
  # A process left behind by a reload keeps WebSockets this long (>= drain-timeout).
  hard-stop-after ${Math.max(5, Math.ceil(hardStopAfterS))}s
  # What a reload hands on (servers' addresses): see SERVER_STATE_FILE.
  server-state-file ${dir}/${SERVER_STATE_FILE}

# canary-steps: one line per request of an app in a canary step (step, pid, request number, server,
# response time, status), read with 'show events'; in memory only, the oldest lines overwritten.
ring ${REQUEST_RING}
  format raw
  maxlen 256
  size ${REQUEST_RING_BYTES}

defaults
  mode http
  # A reload does not close idle client keep-alive connections: the old process answers their next
  # request with Connection: close (bench/PROXY-DESIGN.md: 15 requests cut in 6 reloads without it).
  option idle-close-on-response
  # No 'option forwardfor': it appends to what the client sent. Each app's backend sets the
  # X-Forwarded-* headers from what the proxy saw (passed through only from trusted-proxies).
  timeout connect 5s
  timeout client 65s
  timeout http-keep-alive 65s
  timeout http-request 30s
  timeout server 1h
  timeout tunnel 1h
  timeout client-fin 5s
  http-reuse always
  # closes idle app connections well before the usual app-side idle timeouts (Node: 5 s)
  default-server pool-purge-delay 1s
  load-server-state-from-file global

# Containers by name through Docker's DNS, at run time only (no server is resolved while the proxy
# starts or reloads): a missing container is a server in maintenance (503 for its app), never a proxy
# that cannot start or reload, whatever the host's upstream resolver does.
resolvers docker
  nameserver dns 127.0.0.11:53
  hold valid 10s
  hold nx 2s
  hold obsolete 2s
  timeout resolve 1s
  timeout retry 1s

${renderMainFrontend(dir, httpsRelay)}
backend ${NOT_FOUND_BACKEND}
  http-request return status 404 content-type text/plain string "no route"

# The ACME renewer (tls auto): in maintenance until its container exists.
backend ${ACME_BACKEND}
  server acme ${acmeContainerName(proxyName)}:${ACME_CHALLENGE_PORT} ${SERVER_RESOLVE}
${metrics ? renderMetricsFrontend() : ''}`;
}
/**
 * The one frontend every app shares: HTTP, HTTPS by SNI, the unpublished probe port, PROXY protocol
 * from trusted edges, the host-name maps, the canary-steps request log and the ACME challenges.
 */
function renderMainFrontend(dir, httpsRelay) {
    const tls = `ssl crt-list ${dir}/${CERTS_LIST} strict-sni alpn h2,http/1.1`;
    return `.if !defined(${HOLDER_OFF_VAR})
frontend cutover
  bind :${HAPROXY_PORT}
  # HTTPS (published at https-port when an app has tls): certificates by SNI from the crt-list;
  # strict-sni: a name no app has a certificate for gets no handshake (no fallback certificate).
  bind :${HAPROXY_HTTPS_PORT} ${tls}
  # cutover's verification behind an edge: unpublished, plain HTTP (see HAPROXY_PROBE_PORT).
  bind :${HAPROXY_PROBE_PORT}
${httpsRelay ? renderRelayedHttps(tls, httpsRelay) : ''}  # An edge in front (proxy-protocol): its PROXY header names the client; from trusted-proxies only.
  tcp-request connection expect-proxy layer4 if !{ dst_port ${HAPROXY_PROBE_PORT} } { src,map_ip(${dir}/${PROXY_PROTOCOL_MAP}) -m found }
  # exact host names, then wildcards (*.example.com), then the app deployed without domains
  http-request set-var(txn.cutover_backend) req.hdr(host),lower,field(1,:),map(${dir}/${DOMAINS_MAP})
  http-request set-var(txn.cutover_backend) req.hdr(host),lower,field(1,:),map_end(${dir}/${WILDCARDS_MAP}) unless { var(txn.cutover_backend) -m found }
  http-request set-var(txn.cutover_backend) str(${DEFAULT_KEY}),map(${dir}/${DOMAINS_MAP}) unless { var(txn.cutover_backend) -m found }
  # canary-steps: only an app in a canary step is logged (to the ring above); steady state logs nothing.
  log ring@${REQUEST_RING} format raw local0 info
  log-format "%[var(txn.cutover_step)] %pid %rt %s %Tr %ST"
  http-request set-var(txn.cutover_step) var(txn.cutover_backend),map(${dir}/${REQUEST_LOG_MAP}) if { var(txn.cutover_backend) -m found }
  http-request set-log-level silent unless { var(txn.cutover_step) -m found }
  # ACME HTTP-01 challenges of names with tls auto go to the renewer, never to the app nor redirected.
  use_backend ${ACME_BACKEND} if { path_beg ${ACME_PATH} } { req.hdr(host),lower,field(1,:),map(${dir}/${ACME_MAP}) -m found }
  use_backend %[var(txn.cutover_backend)] if { var(txn.cutover_backend) -m found }
  # a host name no app claims gets a 404, never another app
  default_backend ${NOT_FOUND_BACKEND}
.endif
`;
}
/**
 * HTTPS through the relay (haproxy-https-relay.ts): the same TLS as the public port, after the relay's
 * PROXY header (the client's address). The header is trusted only from the proxy's network (where the
 * relay is) and never from its gateway (any process on the host): an app's container, on its own
 * network, cannot claim another client's address. (tcp-request connection sees the real source.)
 */
function renderRelayedHttps(tls, network) {
    const port = HAPROXY_RELAYED_HTTPS_PORT;
    const gateways = network.gateways.length ? `  tcp-request connection reject if { dst_port ${port} } { src ${network.gateways.join(' ')} }\n` : '';
    return `  # HTTPS published by the relay beside the proxy (created without an HTTPS port): its PROXY header names the client.
  bind :${port} ${tls} accept-proxy
  tcp-request connection reject if { dst_port ${port} } !{ src ${network.subnets.join(' ')} }
${gateways}`;
}
/**
 * metrics (issue #24): HAProxy's own Prometheus exporter at /metrics (every app's backend and
 * servers: requests, responses by code, response times), and at /release?app=<app> the app's
 * live release as an info series, from a map the runtime API keeps current (no reload).
 */
function renderMetricsFrontend() {
    const map = `${HAPROXY_CONF_DIR}/${RELEASES_MAP}`;
    return `
# metrics: published on the host only at the address the 'metrics' input gives (127.0.0.1 unless told).
.if !defined(${HOLDER_OFF_VAR})
frontend cutover-metrics
  bind :${HAPROXY_METRICS_PORT}
  http-request use-service prometheus-exporter if { path /metrics }
  http-request set-var(txn.cutover_app) url_param(app)
  http-request return status 200 content-type "text/plain; version=0.0.4" lf-string "# HELP cutover_release_info The release cutover last made live for the app (labels: app, color, release).\\n# TYPE cutover_release_info gauge\\ncutover_release_info{app=\\"%[var(txn.cutover_app)]\\",%[var(txn.cutover_app),map(${map})]} 1\\n" if { path /release } { var(txn.cutover_app),map(${map}) -m found }
  http-request return status 404 content-type text/plain string "metrics: GET /metrics, or /release?app=<app> for an app deployed on this proxy"
.endif
`;
}
/** The releases map's line of an app: its live color and release id as Prometheus labels. */
function releaseLabels(color, releaseId) {
    return `color="${color}",release="${encodeRelease(releaseId)}"`;
}
const ROUTE_LINE = /^# cutover-route: /;
/**
 * An app's backend: the one place its live color is written (the other color is `disabled`).
 * `slots`: servers declared per color (replicas; see haproxy-strategy.ts). `tls`: the app's HTTPS
 * rules (redirect, HSTS, forwarded headers).
 */
function renderAppConfig(route, token, slots = route.replicas ?? 1, canary, sticky = false, tls = TLS_OFF, 
/** preview-domains: a second backend for the color that is not live (haproxy-preview.ts). */
preview = false) {
    const be = backendName(route.app);
    const map = `${HAPROXY_CONF_DIR}/${verifyMapFile(route.app)}`;
    return `# Managed by cutover: do not edit, deploys rewrite it.
${routeComment(route, token)}
${canaryComment(canary)}backend ${be}
  # Only cutover's own verification learns which release answered: it sends the token that only
  # the host knows (verify map); any other value, or none, gets no header.
  http-request set-var(txn.cutover_verify) req.hdr(x-cutover-verify)
  http-request del-header x-cutover-verify
  http-response del-header x-cutover-release
  http-response set-header X-Cutover-Release %[var(txn.cutover_verify),map(${map})] if { var(txn.cutover_verify),map(${map}) -m found }
${renderTlsRules(tls, map)}${renderMaintenanceRule(HAPROXY_CONF_DIR, route.app, map)}${renderStickiness(route.app, sticky)}${renderServers(route, slots, canary, sticky)}${preview ? renderPreviewBackend(route, slots, renderTlsRules(tls, map)) : ''}`;
}
function renderVerifyMap(token, releaseId) {
    return `${token} ${encodeRelease(releaseId)}\n`;
}
/** Whether an app's backend file routes to a color (the marker line is the record). */
function hasRouteLine(text) {
    return text.split('\n').some(l => ROUTE_LINE.test(l));
}
/**
 * The shared maps with the app's entries replaced by `domains` (none: the app is the default).
 * Entries of other apps are kept as they are; a host name another app holds is given to this one
 * (callers refuse that first: mapConflicts).
 */
function updateDomainMaps(current, app, domains, previewDomains = []) {
    const be = backendName(app);
    const previewBe = previewBackendName(app);
    const parse = (text) => text
        .split('\n')
        .map(l => l.trim())
        .filter(l => l && !l.startsWith('#'))
        .map(l => l.split(/\s+/));
    const exact = parse(current.domains).filter(([, b]) => b !== be && b !== previewBe);
    const wild = parse(current.wildcards).filter(([, b]) => b !== be && b !== previewBe);
    const previews = previewDomains.map(d => d.toLowerCase());
    const mine = domains.map(d => d.toLowerCase());
    const exactKeys = mine.filter(d => !d.startsWith('*.'));
    const wildKeys = mine.filter(d => d.startsWith('*.')).map(d => d.slice(1));
    if (!mine.length)
        exactKeys.push(DEFAULT_KEY);
    const keepExact = exact.filter(([k]) => !exactKeys.includes(k) && !previews.includes(k));
    const keepWild = wild.filter(([k]) => !wildKeys.includes(k));
    const render = (entries) => entries.map(([k, b]) => `${k} ${b}\n`).join('');
    // map_end takes the first match: the longest suffix first, as nginx picks the longest wildcard.
    const wildAll = [...keepWild, ...wildKeys.map(k => [k, be])].sort((a, b) => b[0].length - a[0].length || a[0].localeCompare(b[0]));
    const exactAll = [...keepExact, ...exactKeys.map(k => [k, be]), ...previews.map(k => [k, previewBe])].sort((a, b) => a[0].localeCompare(b[0]));
    return { domains: MAP_HEADER + render(exactAll), wildcards: MAP_HEADER + render(wildAll) };
}
/** The shared maps without any entry of the app (its domains, its default claim, its preview domains). */
function withoutApp(current, app) {
    const mine = [backendName(app), previewBackendName(app)];
    const keep = (text) => text
        .split('\n')
        .map(l => l.trim())
        .filter(l => l && !l.startsWith('#') && !mine.includes(l.split(/\s+/)[1]))
        .map(l => `${l}\n`)
        .join('');
    return { domains: MAP_HEADER + keep(current.domains), wildcards: MAP_HEADER + keep(current.wildcards) };
}
/** The keys of a shared map's entries that route to the app (its domains, its default claim, its preview domains). */
function appMapKeys(text, app) {
    const mine = [backendName(app), previewBackendName(app)];
    return text
        .split('\n')
        .map(l => l.trim().split(/\s+/))
        .filter(([key, backend]) => key && !key.startsWith('#') && mine.includes(backend))
        .map(([key]) => key);
}
/**
 * Host names (or the default) this app would take from another app's backend in the maps as they
 * are on the proxy now. The engine refuses such claims from the other apps' ledgers before anything
 * changes; this check, made under the proxy lock, catches the same claim made by a run of another
 * app at the same moment (or by an app whose ledger is gone).
 */
function mapConflicts(current, app, domains, previewDomains = []) {
    const mine = [backendName(app), previewBackendName(app)];
    const held = new Map();
    for (const [text, wild] of [
        [current.domains, false],
        [current.wildcards, true]
    ]) {
        for (const line of text.split('\n')) {
            const [key, backend] = line.trim().split(/\s+/);
            if (key && !key.startsWith('#') && backend)
                held.set(wild ? `*${key}` : key, backend);
        }
    }
    const wanted = [...(domains.length ? domains : [DEFAULT_KEY]), ...previewDomains].map(d => (d === DEFAULT_KEY ? d : d.toLowerCase()));
    return wanted
        .filter(name => held.has(name) && !mine.includes(held.get(name)))
        .map(name => ({
        name: name === DEFAULT_KEY ? 'the default (no domains)' : name,
        app: held
            .get(name)
            .replace(/^app_/, '')
            .replace(/_preview$/, '')
    }));
}
const MAP_HEADER = '# Managed by cutover: host name -> backend.\n';
const EMPTY_MAP = MAP_HEADER;
const TLS_OFF = { enabled: false, httpsPort: 443, redirect: false, hsts: false, trustedProxies: [] };
/**
 * Forwarded headers set from the proxy's own view (a client cannot spoof them), unless the
 * connection comes from a trusted proxy that sent them; then the 308 to HTTPS and HSTS.
 */
function renderTlsRules(tls, verifyMap) {
    const lines = [];
    const trusted = tls.trustedProxies.length > 0;
    if (trusted)
        lines.push(`acl cutover_trusted src ${tls.trustedProxies.join(' ')}`);
    const unlessTrusted = (header) => (trusted ? ` unless cutover_trusted { req.hdr(${header}) -m found }` : '');
    lines.push('# X-Forwarded-*: what this proxy saw, replacing anything the client sent' + (trusted ? ' (kept as sent by trusted-proxies)' : ''), 'http-request set-var(txn.cutover_proto) str(https) if { ssl_fc }', 'http-request set-var(txn.cutover_proto) str(http) unless { ssl_fc }', `http-request set-header X-Forwarded-Proto %[var(txn.cutover_proto)]${unlessTrusted('x-forwarded-proto')}`, `http-request set-header X-Forwarded-Host %[req.hdr(host)]${unlessTrusted('x-forwarded-host')}`, `http-request set-header X-Forwarded-For %[src]${unlessTrusted('x-forwarded-for')}`);
    if (tls.enabled && tls.redirect) {
        const port = tls.httpsPort === 443 ? '' : `:${tls.httpsPort}`;
        lines.push("# plain HTTP answers 308 to HTTPS, except ACME challenges (an app may answer its own) and cutover's verification (its token)", `http-request redirect location https://%[req.hdr(host),field(1,:)]${port}%[capture.req.uri] code 308 if !{ ssl_fc } !{ path_beg ${ACME_PATH} } !{ var(txn.cutover_verify),map(${verifyMap}) -m found }`);
    }
    if (tls.enabled && tls.hsts)
        lines.push('http-response set-header Strict-Transport-Security "max-age=31536000" if { ssl_fc }');
    return lines.map(l => `  ${l}\n`).join('');
}
/** The crt-list: one line per certificate file, sorted so that the same set renders the same text. */
function renderCertsList(files) {
    const lines = [...new Set(files)].sort().map(f => `${HAPROXY_CONF_DIR}/${f}\n`);
    return `# Managed by cutover: one certificate per app (names from the certificate itself).\n${lines.join('')}`;
}
/** The certificate files a crt-list names. */
function parseCertsList(text) {
    return text
        .split('\n')
        .map(l => l.trim())
        .filter(l => l && !l.startsWith('#'))
        .map(l => l.split(/\s+/)[0].replace(`${HAPROXY_CONF_DIR}/`, ''));
}
/** The crt-list with the app's certificate in it (or out of it). */
function updateCertsList(current, app, present) {
    const others = parseCertsList(current).filter(f => f !== certFile(app));
    return renderCertsList(present ? [...others, certFile(app)] : others);
}
/** acme.map with the app's ACME names replaced by `names` (host name -> app). */
function updateAcmeMap(current, app, names) {
    const entries = current
        .split('\n')
        .map(l => l.trim())
        .filter(l => l && !l.startsWith('#'))
        .map(l => l.split(/\s+/))
        .filter(([k, a]) => a !== app && !names.includes(k));
    const all = [...entries, ...names.map(n => [n.toLowerCase(), app])].sort((a, b) => a[0].localeCompare(b[0]));
    return ACME_MAP_HEADER + all.map(([k, a]) => `${k} ${a}\n`).join('');
}
const ACME_MAP_HEADER = '# Managed by cutover: host name -> app whose certificate comes from ACME.\n';
const EMPTY_ACME_MAP = ACME_MAP_HEADER;
const EMPTY_CERTS_LIST = renderCertsList([]);

;// CONCATENATED MODULE: ./src/proxy/caddy-config.ts





/**
 * Caddy's configuration as cutover writes it (pure: JSON in, JSON out). One HTTP server, `cutover`,
 * holds one route per app (`@id` cutover-app-<app>): its host names, a verify rule (a request
 * carrying the release's token gets the release id back in a header, as with HAProxy and nginx)
 * and a reverse_proxy to the color's containers. A `vars` handler at the head of each route carries
 * the route's own record (color, release, token), read back by current(). The routes of every app
 * live in the one configuration, which Caddy saves itself (`--resume`): a restart comes up on them.
 */
const CADDY_PORT = 80;
/** Inside the container: the admin socket's directory (a host directory, bind-mounted). */
const CADDY_RUN_DIR = '/run/cutover-caddy';
const CADDY_SOCKET = 'admin.sock';
/** Inside the container: Caddy's config directory (XDG_CONFIG_HOME; its autosave.json), a named volume. */
const CADDY_CONFIG_DIR = '/config';
/** Inside the container: Caddy's data directory (XDG_DATA_HOME), a named volume. */
const CADDY_DATA_DIR = '/data';
/** The configuration a new proxy starts with (in the config volume); later starts resume the saved one. */
const CADDY_BASE_FILE = 'cutover-base.json';
const SERVER_NAME = 'cutover';
const ROUTE_ID_PREFIX = 'cutover-app-';
/** Caddy's minimum, so a shared proxy with a short drain still lets a request of a few seconds finish. */
const MIN_GRACE_S = 5;
function routeId(app) {
    return `${ROUTE_ID_PREFIX}${app}`;
}
/** The configuration a new proxy starts with: its admin socket, and a server with no app (503). */
function caddy_config_renderBaseConfig(graceSeconds) {
    return withRoutes({ admin: { listen: `unix/${CADDY_RUN_DIR}/${CADDY_SOCKET}` } }, [], graceSeconds);
}
/**
 * An app's route: its host names (none: every name no other app claims), the verify rule, its
 * color's containers; with `maintenance`, that page (503) for every request but cutover's own
 * verification, which still reaches the color.
 */
function renderAppRoute(route, token, domains, maintenance) {
    const record = {
        app: route.app,
        color: route.color,
        releaseId: route.releaseId,
        token,
        appPort: route.appPort,
        replicas: route.replicas ?? 1,
        domains,
        ...(maintenance !== undefined ? { maintenance } : {})
    };
    const upstreams = oneTo(record.replicas).map(i => ({ dial: `${(0,core_names/* containerName */.xN)(route.app, route.color, i)}:${route.appPort}` }));
    const proxy = {
        handler: 'reverse_proxy',
        upstreams,
        // A replica that refuses a connection is skipped for the next 10 s; the request tries another.
        load_balancing: { selection_policy: { policy: 'round_robin' }, try_duration: '2s' },
        health_checks: { passive: { fail_duration: '10s' } },
        // The release header is cutover's: an app cannot set it.
        headers: { response: { delete: [RELEASE_HEADER] } }
    };
    const verify = {
        match: [{ header: { [VERIFY_HEADER]: [token] } }],
        handle: [{ handler: 'headers', response: { set: { [RELEASE_HEADER]: [encodeRelease(route.releaseId)] }, deferred: true } }]
    };
    return {
        '@id': routeId(route.app),
        ...(domains.length ? { match: [{ host: domains }] } : {}),
        handle: [
            { handler: 'vars', cutover_route: JSON.stringify(record) },
            {
                handler: 'subroute',
                routes: [...(token ? [verify] : []), ...(maintenance !== undefined ? [maintenanceRoute(token, maintenance)] : []), { handle: [proxy] }]
            }
        ],
        terminal: true
    };
}
/** The page with a 503 and Retry-After for every request that does not carry the release's token. */
function maintenanceRoute(token, page) {
    return {
        ...(token ? { match: [{ not: [{ header: { [VERIFY_HEADER]: [token] } }] }] } : {}),
        handle: [
            {
                handler: 'static_response',
                status_code: 503,
                headers: {
                    'Content-Type': ['text/html; charset=utf-8'],
                    'Retry-After': [String(RETRY_AFTER_S)],
                    'Cache-Control': ['no-store'],
                    [MAINTENANCE_HEADER]: ['on']
                },
                body: page
            }
        ],
        terminal: true
    };
}
/** The route of a record again, with maintenance on (the page) or off (undefined). */
function withMaintenance(record, page) {
    const route = { app: record.app, color: record.color, releaseId: record.releaseId, appPort: record.appPort, replicas: record.replicas };
    return renderAppRoute(route, record.token, record.domains, page);
}
/** The routes of the `cutover` server (empty when there is none). */
function serverRoutes(config) {
    const routes = config?.apps?.http?.servers?.[SERVER_NAME]?.routes;
    return Array.isArray(routes) ? routes : [];
}
/** The record of every app's route on the proxy. */
function routeRecords(config) {
    return serverRoutes(config).flatMap(r => {
        const record = caddy_config_recordOf(r);
        return record ? [record] : [];
    });
}
function caddy_config_recordOf(route) {
    if (typeof route['@id'] !== 'string' || !route['@id'].startsWith(ROUTE_ID_PREFIX))
        return undefined;
    const vars = Array.isArray(route.handle) ? route.handle.find(h => h.handler === 'vars') : undefined;
    if (typeof vars?.cutover_route !== 'string')
        return undefined;
    try {
        const r = JSON.parse(vars.cutover_route);
        return core_names/* COLORS */.lm.includes(r.color) && typeof r.releaseId === 'string' ? r : undefined;
    }
    catch {
        return undefined;
    }
}
function appRecord(config, app) {
    return routeRecords(config).find(r => r.app === app);
}
/** The release header's value as Caddy sends it, decoded. */
const decodeCaddyRelease = decodeRelease;
/** The host names of `domains` another app's route on the proxy already has. */
function domainConflicts(config, app, domains) {
    const others = routeRecords(config).filter(r => r.app !== app);
    const taken = [];
    for (const name of domains) {
        const owner = others.find(r => r.domains.includes(name));
        if (owner)
            taken.push({ name, app: owner.app });
    }
    // One default app per proxy: a second app without domains would take the first one's requests.
    if (!domains.length) {
        const other = others.find(r => r.domains.length === 0);
        if (other)
            taken.push({ name: 'the default route (no domains)', app: other.app });
    }
    return taken;
}
/**
 * The configuration with the app's route replaced (route undefined: removed), every other part
 * kept. Routes with host names come first (by app), the default app after them, and a last route
 * answers 503 for names nobody claims. `graceSeconds`: how long a reload lets the old servers'
 * requests finish (the longest drain of any app on the proxy is kept).
 */
function withAppRoute(config, app, route, graceSeconds) {
    const others = serverRoutes(config).filter(r => r['@id'] !== routeId(app) && caddy_config_recordOf(r));
    const had = parseSeconds(config?.apps?.http?.grace_period);
    return withRoutes(config ?? {}, route ? [...others, route] : others, Math.max(had, graceSeconds));
}
function withRoutes(config, appRoutes, graceSeconds) {
    const sorted = [...appRoutes].sort((a, b) => {
        const rank = (r) => (r.match ? 0 : 1);
        return rank(a) - rank(b) || String(a['@id']).localeCompare(String(b['@id']));
    });
    const fallback = { handle: [{ handler: 'static_response', status_code: 503, body: 'No app is routed for this host name (cutover).\n' }] };
    const servers = { ...(config.apps?.http?.servers ?? {}) };
    servers[SERVER_NAME] = {
        ...(servers[SERVER_NAME] ?? {}),
        listen: [`:${CADDY_PORT}`],
        // cutover's routes are plain HTTP: no certificates, no redirects unless a later version adds them.
        automatic_https: { disable: true },
        routes: [...sorted, fallback]
    };
    return {
        ...config,
        apps: {
            ...(config.apps ?? {}),
            http: { ...(config.apps?.http ?? {}), grace_period: `${Math.max(MIN_GRACE_S, Math.ceil(graceSeconds))}s`, servers }
        }
    };
}
/** `30s` → 30 (Caddy writes durations as it was given them: cutover gives seconds). */
function parseSeconds(value) {
    const m = typeof value === 'string' ? /^(\d+)s$/.exec(value) : null;
    return m ? Number(m[1]) : 0;
}

;// CONCATENATED MODULE: ./src/proxy/caddy-lifecycle.ts





const PORT_KEY = `${CADDY_PORT}/tcp`;
/** How long a started proxy may take to open its admin socket. */
const START_TIMEOUT_MS = 15_000;
/** Where Caddy saves the configuration it runs (`--resume` starts from it). */
const AUTOSAVE_PATH = `${CADDY_CONFIG_DIR}/caddy/autosave.json`;
/**
 * The one Caddy container of a host, shared by every app: created, connected and started; a
 * container of another kind under its name is refused. Caddy runs as root in the group of the
 * host's Docker socket under `umask 007`, so its admin socket (in a host directory) opens for root
 * and that group only, as HAProxy's does.
 */
class CaddyContainer {
    host;
    name;
    network;
    constructor(host) {
        this.host = host;
        this.name = host.settings.name;
        this.network = `${host.settings.name}-net`;
    }
    get container() {
        return this.host.docker.getContainer(this.name);
    }
    /** The proxy runs, on its network and the app's. */
    async ensure(appNetwork) {
        const info = await inspectIfExists(this.container);
        if (info)
            this.check(info);
        if (info?.State.Running && info.NetworkSettings.Networks[appNetwork] && info.NetworkSettings.Networks[this.network])
            return;
        await underLock(this.host.lockProxy, async () => {
            await ensureProxyNetwork(this.host.docker, this.network);
            const current = (await inspectIfExists(this.container)) ?? (await this.create());
            this.check(current);
            for (const network of [this.network, appNetwork]) {
                if (!current.NetworkSettings.Networks[network])
                    await this.host.docker.getNetwork(network).connect({ Container: current.Id });
            }
            if (!current.State.Running)
                await this.start(current);
        });
    }
    async start(current) {
        const { log, admin } = this.host;
        const since = downSince(current);
        log[since ? 'warning' : 'info'](`Starting the proxy ${this.name}${since ?? ''}`);
        await this.container.start().catch(e => {
            // 304: it was started in the meantime (by Docker's restart policy, say)
            if (e.statusCode !== 304)
                throw e;
        });
        await admin.waitForAdmin(START_TIMEOUT_MS, async () => String(await this.container.logs({ stdout: true, stderr: true, tail: 10, follow: false })));
    }
    /** Refuses a container that is not cutover's Caddy, or publishes another port than proxy-port. */
    check(info) {
        const kind = info.Config.Labels?.[core_names/* LABEL */.d_.proxy];
        if (kind !== 'caddy') {
            throw new ProxyError(`The container ${this.name} exists and is not a cutover Caddy proxy (${kind ? `a cutover ${kind} proxy` : 'not made by cutover'}). ` +
                `Choose another proxy-name for proxy-type caddy, or remove that container on the host so cutover can create the Caddy one (that drops traffic for the apps behind it until they are deployed again).`);
        }
        const bindings = info.HostConfig.PortBindings;
        const published = (bindings?.[PORT_KEY] ?? []).map(b => Number(b.HostPort));
        if (!published.includes(this.host.settings.port)) {
            const what = published.length ? `publishes port ${published.join(', ')}` : 'publishes no port';
            throw new ProxyError(`The proxy container ${this.name} already exists and ${what}, not ${this.host.settings.port} as 'proxy-port' asks. ` +
                `Set proxy-port to match, or remove that container on the host so cutover can create it again (that drops traffic for the apps behind it).`);
        }
    }
    async create() {
        const { docker, settings, registry, log } = this.host;
        await ensureProxyImage(docker, settings.image, registry, log);
        const group = (await this.host.hostFacts().catch(() => undefined))?.dockerGroup;
        log.info(`Creating the proxy ${this.name} on port ${settings.port} (${settings.image}, Caddy)`);
        // Another app's deploy may create it at the same moment: then theirs is used.
        const info = await createOrAdopt(docker, {
            name: this.name,
            Image: settings.image,
            User: group ? `0:${group}` : '0',
            Entrypoint: ['/bin/sh', '-c'],
            // The saved configuration when there is one (every app's routes), the base otherwise.
            Cmd: [`umask 007 && exec /usr/bin/caddy run --resume --config ${CADDY_CONFIG_DIR}/${CADDY_BASE_FILE}`],
            Env: [`XDG_CONFIG_HOME=${CADDY_CONFIG_DIR}`, `XDG_DATA_HOME=${CADDY_DATA_DIR}`],
            Labels: { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.proxy]: 'caddy' },
            ExposedPorts: { [PORT_KEY]: {} },
            HostConfig: {
                PortBindings: { [PORT_KEY]: [{ HostPort: String(settings.port) }] },
                Binds: [
                    // The saved configuration (and so the live colors) survives a re-created container.
                    `${this.name}-conf:${CADDY_CONFIG_DIR}`,
                    `${this.name}-data:${CADDY_DATA_DIR}`,
                    // The admin socket, in a host directory only reached over SSH.
                    `${hostRunDir(this.name)}:${CADDY_RUN_DIR}`
                ],
                RestartPolicy: { Name: 'unless-stopped' },
                NetworkMode: this.network
            }
        });
        const base = JSON.stringify(caddy_config_renderBaseConfig(settings.drainTimeoutMs / 1000), null, 2);
        await putFile(this.container, CADDY_CONFIG_DIR, CADDY_BASE_FILE, base + '\n');
        return info;
    }
}

;// CONCATENATED MODULE: ./src/proxy/caddy.ts










/**
 * One Caddy container for every app on the host (proxy-type caddy), switched through Caddy's admin
 * API on a Unix socket in a host directory, reached over the SSH connection like HAProxy's. Caddy
 * 2.6 changes routes only by loading a whole new configuration: a switch is a graceful reload
 * (in-flight requests finish on the old color, within the longest drain-timeout on the proxy), and
 * Caddy closes every proxied WebSocket when it reloads (docs/reliability.md "proxy-type: caddy").
 */
class CaddyRouter {
    docker;
    openTcp;
    settings;
    app;
    log;
    lockProxy;
    capabilities = proxy_capabilities/* CADDY_CAPABILITIES */.Jd;
    name;
    admin;
    proxy;
    constructor(docker, openTcp, openUnixSocket, settings, app, registry, log, lockProxy, hostFacts = async () => ({})) {
        this.docker = docker;
        this.openTcp = openTcp;
        this.settings = settings;
        this.app = app;
        this.log = log;
        this.lockProxy = lockProxy;
        this.name = settings.name;
        const socketPath = `${hostRunDir(settings.name)}/${CADDY_SOCKET}`;
        this.admin = new CaddyAdmin(this.name, socketPath, () => openUnixSocket(socketPath));
        this.proxy = new CaddyContainer({ docker, settings, registry, log, lockProxy, hostFacts, admin: this.admin });
    }
    async ensure(appNetwork) {
        await this.proxy.ensure(appNetwork);
    }
    /**
     * The configuration the proxy runs; with the proxy down, the one it saved (a restart resumes it).
     * undefined: no proxy container, or one that never ran.
     */
    async config() {
        const running = await this.admin.config().catch(() => undefined);
        if (running)
            return running;
        if (!(await inspectIfExists(this.docker.getContainer(this.name))))
            return undefined;
        const saved = await getFile(this.docker.getContainer(this.name), AUTOSAVE_PATH).catch(() => undefined);
        try {
            return saved ? JSON.parse(saved) : undefined;
        }
        catch {
            return undefined;
        }
    }
    async current() {
        const record = appRecord(await this.config(), this.app);
        return record && { color: record.color, releaseId: record.releaseId };
    }
    /**
     * The app's route in a new configuration, loaded at once. Every app's route is in the one
     * configuration: read, changed and loaded under the proxy's lock, so two apps' runs never undo
     * each other. Caddy checks a configuration before it runs it: one it refuses leaves the old one.
     */
    async apply(route) {
        const token = (0,external_node_crypto_.randomBytes)(12).toString('hex');
        await underLock(this.lockProxy, async () => {
            const config = (await this.admin.config());
            const taken = domainConflicts(config, this.app, this.settings.domains);
            if (taken.length) {
                const [first] = taken;
                throw new ProxyError(`${taken.map(t => t.name).join(', ')} ${taken.length > 1 ? 'are' : 'is'} already routed to app ${first.app} on the proxy ${this.name}: ` +
                    `give ${this.app} other 'domains', or remove them from ${first.app}. The proxy's routes were not changed.`);
            }
            const before = appRecord(config, this.app);
            // Maintenance stays on across a deploy (mode live ends it), as with HAProxy.
            const rendered = renderAppRoute(route, token, this.settings.domains, before?.maintenance);
            const next = withAppRoute(config, this.app, rendered, this.settings.drainTimeoutMs / 1000);
            await this.admin.load(next).catch((e) => {
                throw new ProxyError(`${e.message}. The proxy keeps the configuration it had (${this.app} still on ${before?.color ?? 'no color'}).`);
            });
        });
        this.log.info(`Switched ${this.app} to ${route.color} on the proxy ${this.name} by a graceful reload of Caddy's configuration (admin API): ` +
            `requests in flight finish on the old color; Caddy closes the proxied WebSockets of every app on it`);
    }
    /**
     * mode maintenance (on) / live (off): the app's route with or without the page (503), loaded like
     * a switch (a reload: Caddy 2.6 has no runtime flag). Confirmed by a request through the proxy.
     */
    async maintenance(on, page) {
        await underLock(this.lockProxy, async () => {
            const config = (await this.admin.config());
            const record = appRecord(config, this.app);
            if (!record)
                throw new ProxyError(`The proxy ${this.name} has no route for ${this.app}: deploy it first`);
            // mode live drops the page; mode maintenance serves the one given, or the built-in one.
            const next = withAppRoute(config, this.app, withMaintenance(record, on ? maintenancePage(page) : undefined), this.settings.drainTimeoutMs / 1000);
            await this.admin.load(next).catch((e) => {
                throw new ProxyError(`${e.message}. The proxy keeps the configuration it had (maintenance of ${this.app} ${record.maintenance ? 'on' : 'off'}).`);
            });
        });
        this.log.info(`${on ? 'Turned on' : 'Ended'} maintenance of ${this.app} on the proxy ${this.name} by a graceful reload of Caddy's configuration`);
        return confirmMaintenance(this.openTcp, this.settings, on, 10_000);
    }
    async verify(route, path, timeoutMs) {
        const record = appRecord(await this.config(), this.app);
        // Without the token of the route being verified, the proxy names no release: verification fails.
        const token = record?.releaseId === route.releaseId ? record.token : '';
        // /load answers once the new servers accept and the old ones stopped accepting: one answer will do.
        const ask = { releaseId: route.releaseId, token, tokenHeader: VERIFY_HEADER, releaseHeader: RELEASE_HEADER, decode: decodeCaddyRelease, confirmAfterMs: 0 };
        return verifyThroughProxy(this.openTcp, this.settings, ask, path, timeoutMs);
    }
    async outdated(route) {
        const record = appRecord(await this.config(), this.app);
        if (!record)
            return true;
        const same = (a, b) => a.length === b.length && a.every((d, i) => d === b[i]);
        return !same(record.domains, this.settings.domains) || record.appPort !== route.appPort || record.replicas !== (route.replicas ?? 1);
    }
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-edge.ts


/**
 * Edge mode (issue #23): which sources' connections start with a PROXY protocol header. One map for
 * the proxy (the header comes before any request, so before any app is known): each source with
 * the apps that trust it, so an app that stops asking removes only its own claim.
 */
const HEADER = '# Managed by cutover: source (trusted-proxies of apps with proxy-protocol) -> apps.\n';
const EMPTY_PROXY_PROTOCOL_MAP = HEADER;
/** The map with `app` claiming exactly `sources` (none: the app's claims removed, other apps' kept). */
function updateProxyProtocolMap(current, app, sources) {
    const claims = new Map();
    for (const line of current.split('\n')) {
        const [source, apps] = line.trim().split(/\s+/);
        if (!source || source.startsWith('#') || !apps)
            continue;
        const set = claims.get(source) ?? new Set();
        for (const a of apps.split(','))
            if (a && a !== app)
                set.add(a);
        claims.set(source, set);
    }
    for (const source of sources)
        claims.set(source, (claims.get(source) ?? new Set()).add(app));
    const lines = [...claims]
        .filter(([, apps]) => apps.size > 0)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([source, apps]) => `${source} ${[...apps].sort().join(',')}\n`);
    return HEADER + lines.join('');
}
/** The sources an app's claims in the map. */
function proxyProtocolSources(current, app) {
    return current
        .split('\n')
        .map(l => l.trim().split(/\s+/))
        .filter(([source, apps]) => source && !source.startsWith('#') && apps?.split(',').includes(app))
        .map(([source]) => source);
}
/** The app's PROXY protocol sources as its inputs say (a reload, under the proxy's lock, only when they change). */
async function ensureProxyProtocol(host, sources) {
    const { app, proxyName, log, lockProxy, files, admin } = host;
    const current = (await files.file(PROXY_PROTOCOL_MAP)) ?? EMPTY_PROXY_PROTOCOL_MAP;
    if (updateProxyProtocolMap(current, app, sources) === current)
        return;
    await underLock(lockProxy, async () => {
        files.forget();
        const now = (await files.file(PROXY_PROTOCOL_MAP)) ?? EMPTY_PROXY_PROTOCOL_MAP;
        const next = updateProxyProtocolMap(now, app, sources);
        if (next === now)
            return;
        log.info(sources.length
            ? `The proxy ${proxyName} expects a PROXY protocol header from ${sources.join(', ')} (proxy-protocol of ${app}): reloading it`
            : `The proxy ${proxyName} no longer expects a PROXY protocol header for ${app}: reloading it`);
        await files.put(PROXY_PROTOCOL_MAP, next);
        await admin.testAndReload([{ file: PROXY_PROTOCOL_MAP, content: now }]);
    });
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-files.ts


/**
 * The proxy's configuration volume, read through its container. Read once, in one archive request:
 * Docker serves archive requests one at a time per container, so reading files one by one made a
 * switch wait on each. Every write forgets it; sections that must see other apps' latest writes
 * forget it first.
 */
class ConfVolume {
    container;
    read;
    constructor(container) {
        this.container = container;
    }
    /** A file's text, undefined when it does not exist. */
    file(name) {
        return this.all().then(files => files.get(name));
    }
    /** Every file of the directory, by name. */
    all() {
        if (!this.read) {
            const read = getDirFiles(this.container, HAPROXY_CONF_DIR);
            read.catch(() => {
                if (this.read === read)
                    this.read = undefined;
            });
            this.read = read;
        }
        return this.read;
    }
    forget() {
        this.read = undefined;
    }
    async put(name, content, mode) {
        this.forget();
        await putFile(this.container, HAPROXY_CONF_DIR, name, content, mode);
    }
    async putMany(files) {
        this.forget();
        await putFiles(this.container, HAPROXY_CONF_DIR, files);
    }
    /** Those of `names` that do not exist. */
    async missing(names) {
        const present = await Promise.all(names.map(f => this.file(f)));
        return names.filter((_, i) => present[i] === undefined);
    }
    /** The shared host name maps (empty when missing). */
    async maps() {
        const [domains, wildcards] = await Promise.all([DOMAINS_MAP, WILDCARDS_MAP].map(async (f) => (await this.file(f)) ?? EMPTY_MAP));
        return { domains, wildcards };
    }
    async tlsFiles() {
        const [certsList, acmeMap] = await Promise.all([this.file(CERTS_LIST).then(t => t ?? EMPTY_CERTS_LIST), this.file(ACME_MAP).then(t => t ?? EMPTY_ACME_MAP)]);
        return { certsList, acmeMap };
    }
}

// EXTERNAL MODULE: ./src/core/listen.ts
var listen = __webpack_require__(8256);
;// CONCATENATED MODULE: ./src/proxy/haproxy-relay.ts



/**
 * A relay beside the proxy (issue #22): Docker publishes a port only when a container is created,
 * and re-creating the proxy to publish one more cuts every app on it. A small container of the
 * proxy's image, on the proxy's network, publishes the port instead and forwards TCP to the proxy,
 * which it finds by name through Docker's DNS at run time (a re-created or restarted proxy may have
 * another address). Used for metrics (haproxy-metrics-relay.ts) and HTTPS (haproxy-https-relay.ts).
 */
const RELAY_FILE_DIR = '/';
/** The address a container publishes `portKey` at, if it does. */
function publishedAt(info, portKey) {
    const bindings = info?.HostConfig.PortBindings?.[portKey] ?? [];
    const b = bindings[0];
    return b ? { host: b.HostIp || '0.0.0.0', port: Number(b.HostPort) } : undefined;
}
/** Refuses a container under a relay's name that is not that relay (cutover never removes what it did not make). */
function checkRelay(info, name, kind) {
    if (!info || info.Config.Labels?.[core_names/* LABEL */.d_.proxy] === kind)
        return;
    throw new ProxyError(`The container ${name} exists and is not cutover's ${kind} (no label ${core_names/* LABEL */.d_.proxy}=${kind}); nothing was changed. ` +
        `cutover puts a relay of the proxy under that name: rename or remove that container on the host, and run again.`);
}
/**
 * Creates the relay (restarted by Docker after a crash or a reboot), writes its configuration and
 * starts it. The relay's own container under its name goes first (one left half-made by a crashed
 * run, say); another container under that name is refused.
 */
async function startRelay(docker, spec) {
    const container = docker.getContainer(spec.name);
    const info = await inspectIfExists(container);
    checkRelay(info, spec.name, spec.kind);
    if (info)
        await container.remove({ force: true });
    await createOrAdopt(docker, {
        name: spec.name,
        Image: spec.image,
        // Binding a port below 1024 needs root (the official images run as the haproxy user).
        User: 'root',
        Entrypoint: ['haproxy'],
        Cmd: ['-db', '-f', `${RELAY_FILE_DIR}${spec.file}`],
        ...(spec.softStop ? { StopSignal: 'SIGUSR1' } : {}),
        Labels: { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.proxy]: spec.kind },
        ExposedPorts: { [spec.portKey]: {} },
        HostConfig: {
            PortBindings: { [spec.portKey]: [spec.publish] },
            RestartPolicy: { Name: 'unless-stopped' },
            NetworkMode: spec.network
        }
    });
    await putFile(container, RELAY_FILE_DIR, spec.file, spec.config);
    await container.start().catch(e => {
        if (e.statusCode !== 304)
            throw e;
    });
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-metrics-relay.ts



const METRICS_PORT_KEY = `${HAPROXY_METRICS_PORT}/tcp`;
const RELAY_FILE = 'cutover-metrics-relay.cfg';
function metricsRelayName(proxyName) {
    return `${proxyName}-metrics`;
}
/**
 * The relay's configuration: TCP from its published port to the proxy's metrics frontend, the proxy
 * found by its name on the proxy's network through Docker's DNS at run time (a re-created proxy has
 * another address).
 */
function renderMetricsRelay(proxyName) {
    return `# Managed by cutover: the proxy's metrics, published by this container (issue #22).
global
  maxconn 200

defaults
  mode tcp
  timeout connect 5s
  timeout client 1m
  timeout server 1m

resolvers docker
  nameserver dns 127.0.0.11:53
  hold valid 10s
  timeout resolve 1s
  timeout retry 1s

listen metrics
  bind :${HAPROXY_METRICS_PORT}
  server proxy ${proxyName}:${HAPROXY_METRICS_PORT} resolvers docker init-addr last,libc,none
`;
}
/** The address a container publishes the metrics port at, if it does. */
function publishedMetrics(info) {
    return publishedAt(info, METRICS_PORT_KEY);
}
/**
 * metrics asked for on a proxy whose container does not publish them there: a relay container
 * (haproxy-relay.ts, TCP only) publishes them instead; a new address re-creates the relay alone.
 */
class MetricsRelay {
    docker;
    proxyName;
    network;
    log;
    name;
    constructor(docker, proxyName, network, log) {
        this.docker = docker;
        this.proxyName = proxyName;
        this.network = network;
        this.log = log;
        this.name = metricsRelayName(proxyName);
    }
    /** Whether the relay runs, publishing at `wanted` (any address when not given). */
    async serves(wanted) {
        const info = await inspectIfExists(this.docker.getContainer(this.name));
        const at = publishedMetrics(info);
        return !!info?.State.Running && !!at && (!wanted || (at.host === wanted.host && at.port === wanted.port));
    }
    /** The relay runs and publishes at `wanted` (re-created when it published elsewhere). The proxy's lock is held. */
    async ensure(wanted, image) {
        if (await this.serves(wanted))
            return;
        this.log.info(`Publishing the metrics of the proxy ${this.proxyName} at ${wanted.host}:${wanted.port} through ${this.name} (the proxy keeps serving)`);
        await startRelay(this.docker, {
            name: this.name,
            kind: 'metrics-relay',
            image,
            network: this.network,
            portKey: METRICS_PORT_KEY,
            publish: { HostIp: wanted.host, HostPort: String(wanted.port) },
            file: RELAY_FILE,
            config: renderMetricsRelay(this.proxyName)
        });
    }
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-https-relay.ts




const HTTPS_PORT_KEY = `${HAPROXY_HTTPS_PORT}/tcp`;
const haproxy_https_relay_RELAY_FILE = 'cutover-https-relay.cfg';
const KIND = 'https-relay';
function httpsRelayName(proxyName) {
    return `${proxyName}-https`;
}
/**
 * The HTTPS relay's configuration: TCP from its published port to the proxy's relayed HTTPS listener,
 * each connection preceded by a PROXY protocol v2 header naming the client, so the proxy (which
 * terminates TLS as on its own port) sees the client's address, not the relay's. The proxy is found
 * by name through Docker's DNS at run time only: a restarted or re-created proxy with another address
 * is followed within seconds, and a relay that starts before the proxy (a reboot) never waits on the
 * host's upstream resolver. Timeouts as long as the proxy's tunnels: the proxy closes what is idle.
 */
function renderHttpsRelay(proxyName) {
    return `# Managed by cutover: HTTPS of the proxy ${proxyName}, published by this container (issue #22).
global
  maxconn 8000

defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout client-fin 5s
  timeout server-fin 5s

resolvers docker
  nameserver dns 127.0.0.11:53
  hold valid 10s
  hold nx 2s
  hold obsolete 2s
  timeout resolve 1s
  timeout retry 1s

listen https
  bind :${HAPROXY_HTTPS_PORT}
  server proxy ${proxyName}:${HAPROXY_RELAYED_HTTPS_PORT} send-proxy-v2 resolvers docker init-addr none
`;
}
function httpsPath(info, settings, tls, proxyProtocolMap) {
    if (tls.mode === 'off' || settings.unpublished || info.Config.Labels?.[core_names/* LABEL */.d_.proxy] !== 'haproxy')
        return 'none';
    if (publishedAt(info, HTTPS_PORT_KEY))
        return 'published';
    const edgeHeaders = settings.proxyProtocol || (proxyProtocolMap ?? '').split('\n').some(l => l.trim() && !l.trim().startsWith('#'));
    return edgeHeaders ? 'recreate' : 'relay';
}
/**
 * HTTPS asked for on a proxy whose container publishes no HTTPS port (created without tls and
 * without https-port): the relay `<proxy>-https` publishes https-port instead, and the proxy accepts
 * its connections on an internal listener (haproxy-config.ts, HAPROXY_RELAYED_HTTPS_PORT). No
 * re-created proxy, so no app on it stops answering.
 */
class HttpsRelay {
    docker;
    proxyName;
    network;
    log;
    name;
    constructor(docker, proxyName, network, log) {
        this.docker = docker;
        this.proxyName = proxyName;
        this.network = network;
        this.log = log;
        this.name = httpsRelayName(proxyName);
    }
    /** The relay's details (undefined: there is none, or the container under its name is not cutover's relay). */
    async inspect() {
        const info = await inspectIfExists(this.docker.getContainer(this.name));
        return info?.Config.Labels?.[core_names/* LABEL */.d_.proxy] === KIND ? info : undefined;
    }
    /** Refuses another container under the relay's name, before anything changes. */
    async checkName() {
        checkRelay(await inspectIfExists(this.docker.getContainer(this.name)), this.name, KIND);
    }
    /** Where a relay publishes HTTPS (undefined: no relay). */
    published(info) {
        return publishedAt(info, HTTPS_PORT_KEY);
    }
    /** Whether the relay runs and publishes at `wanted`. */
    serves(info, wanted) {
        const at = this.published(info);
        return !!info?.State.Running && !!at && sameHost(at.host, wanted.host) && at.port === wanted.port;
    }
    /** The relay runs and publishes at `wanted` (created, or re-created when it is stopped or half-made). The proxy's lock is held. */
    async ensure(wanted, image) {
        if (this.serves(await this.inspect(), wanted))
            return;
        this.log.info(`Publishing HTTPS of the proxy ${this.proxyName} on ${describe(wanted)} through ${this.name} (the proxy was created without an HTTPS port; it keeps serving, ` +
            `and sees each client's address through the PROXY protocol)`);
        await startRelay(this.docker, {
            name: this.name,
            kind: KIND,
            image,
            network: this.network,
            portKey: HTTPS_PORT_KEY,
            publish: { ...(isAnyHost(wanted.host) ? {} : { HostIp: wanted.host }), HostPort: String(wanted.port) },
            file: haproxy_https_relay_RELAY_FILE,
            config: renderHttpsRelay(this.proxyName),
            softStop: true
        });
    }
    /** Removes the relay (a new proxy container publishes HTTPS itself); the port it published, if it did. */
    async remove() {
        const info = await this.inspect();
        if (!info)
            return undefined;
        this.log.info(`Removing ${this.name}: the new proxy container publishes HTTPS itself`);
        await this.docker.getContainer(this.name).remove({ force: true });
        return this.published(info);
    }
    /** The proxy network's subnets and gateways: where the relay's connections come from, and the host's address on it. */
    async proxyNetwork() {
        const info = (await this.docker.getNetwork(this.network).inspect());
        const config = info.IPAM?.Config ?? [];
        const subnets = config.map(c => c.Subnet).filter((s) => !!s);
        if (!subnets.length) {
            throw new ProxyError(`The proxy's network ${this.network} has no subnet Docker reports (docker network inspect ${this.network}): HTTPS cannot be relayed to the proxy ${this.proxyName}. ` +
                `Nothing was switched; every app keeps serving over HTTP. Re-create the network, or give https-port on a new proxy so it publishes HTTPS itself.`);
        }
        return { subnets, gateways: config.map(c => c.Gateway).filter((g) => !!g) };
    }
}
function isAnyHost(host) {
    return !host || host === '0.0.0.0';
}
function sameHost(a, b) {
    return (isAnyHost(a) && isAnyHost(b)) || a === b;
}
function describe(at) {
    if (isAnyHost(at.host))
        return `port ${at.port}`;
    return `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`;
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-lifecycle.ts










const haproxy_lifecycle_PORT_KEY = `${HAPROXY_PORT}/tcp`;
/** How servers were declared before issue #22 (their names resolved while the proxy loads). */
const LIBC_AT_LOAD = 'resolvers docker init-addr last,libc,none';
const haproxy_lifecycle_HTTPS_PORT_KEY = `${HAPROXY_HTTPS_PORT}/tcp`;
const haproxy_lifecycle_METRICS_PORT_KEY = `${HAPROXY_METRICS_PORT}/tcp`;
/** How long a started proxy may take to open its admin socket. */
const haproxy_lifecycle_START_TIMEOUT_MS = 15_000;
/** A process left behind by a reload keeps WebSockets at least this long. */
const MIN_HARD_STOP_S = 30;
/** The hard-stop-after (seconds) a base file sets; undefined without one. */
function hardStopAfterOf(base) {
    return Number(/hard-stop-after (\d+)s/.exec(base ?? '')?.[1]) || undefined;
}
/** Files every app shares, with what a new proxy starts with. */
const SHARED_DEFAULTS = {
    [DOMAINS_MAP]: EMPTY_MAP,
    [WILDCARDS_MAP]: EMPTY_MAP,
    [CERTS_LIST]: EMPTY_CERTS_LIST,
    [ACME_MAP]: EMPTY_ACME_MAP,
    [SERVER_STATE_FILE]: EMPTY_SERVER_STATE,
    [RELEASES_MAP]: EMPTY_RELEASES_MAP,
    [REQUEST_LOG_MAP]: EMPTY_REQUEST_LOG_MAP,
    [PROXY_PROTOCOL_MAP]: EMPTY_PROXY_PROTOCOL_MAP,
    [HOLDER_FILE]: renderHolderFile(undefined),
    [HOLDER_SWITCH_CFG]: renderHolderFile(undefined)
};
/**
 * The one HAProxy proxy of a host, shared by every app: its container (the holder of the namespace,
 * ports and networks, haproxy-handover.ts) created, connected, started and its shared settings kept
 * current; a container of another kind under its name is refused.
 */
class HaproxyContainer {
    host;
    name;
    network;
    facts = {};
    factsRead;
    /** metrics: the container publishes the metrics port (so the base declares the metrics frontend). */
    metricsPublished = false;
    relay;
    /** HTTPS for a proxy created without an HTTPS port (haproxy-https-relay.ts). */
    httpsRelay;
    /** The HTTPS relay exists or is wanted: the base declares the listener it forwards to. */
    httpsRelayed = false;
    relayNetwork;
    constructor(host) {
        this.host = host;
        this.name = host.settings.name;
        this.network = `${host.settings.name}-net`;
        this.relay = new MetricsRelay(host.docker, this.name, this.network, host.log);
        this.httpsRelay = new HttpsRelay(host.docker, this.name, this.network, host.log);
    }
    get container() {
        return this.host.docker.getContainer(this.name);
    }
    /** The proxy runs, on its network and the app's, with this version's shared settings. */
    async ensure(appNetwork) {
        // Independent reads at once (each a round trip to the host, on the way to every switch).
        const [info, relay, relayServes] = await Promise.all([
            inspectIfExists(this.container),
            this.httpsRelay.inspect(),
            this.relay.serves(),
            this.hostFactsOnce(),
            this.checkEdgeNetworks()
        ]);
        if (info)
            this.check(info, relay);
        this.metricsPublished = (!!info && this.publishedPorts(info, haproxy_lifecycle_METRICS_PORT_KEY).length > 0) || relayServes;
        this.httpsRelayed = !!relay || (!!info && (await this.httpsPath(info)) === 'relay');
        if (this.httpsRelayed && !relay)
            await this.httpsRelay.checkName();
        const ready = !!info &&
            info.State.Running &&
            [appNetwork, this.network, ...this.edgeNetworks].every(n => !!info.NetworkSettings.Networks[n]) &&
            !(await this.recreateReason(info)) &&
            !(await this.metricsMissing(info)) &&
            !(await this.httpsRelayMissing(info, relay)) &&
            (await this.host.handover.settled(info, this.givenImage));
        if (ready && (await this.baseWanted()) === undefined && (await this.host.files.missing(Object.keys(SHARED_DEFAULTS))).length === 0)
            return;
        await underLock(this.host.lockProxy, async () => {
            // Under the lock: what other apps wrote until now.
            this.host.files.forget();
            await ensureProxyNetwork(this.host.docker, this.network);
            const { current, networks } = await this.existingOrNew(appNetwork);
            for (const network of networks) {
                if (!current.NetworkSettings.Networks[network])
                    await this.host.docker.getNetwork(network).connect({ Container: current.Id });
            }
            const metrics = this.host.settings.metrics;
            if (metrics && (await this.metricsMissing(current)))
                await this.relay.ensure(metrics, current.Config.Image);
            this.metricsPublished = this.publishedPorts(current, haproxy_lifecycle_METRICS_PORT_KEY).length > 0 || (await this.relay.serves());
            const relayHttps = (await this.httpsPath(current)) === 'relay';
            this.httpsRelayed = relayHttps || !!(await this.httpsRelay.inspect());
            // The listener first (a reload, no gap), then the relay that forwards to it.
            await this.startOrUpdate(current).catch(e => this.removeIfNeverStarted(current, e));
            if (relayHttps)
                await this.httpsRelay.ensure(this.httpsAddress, current.Config.Image);
        });
    }
    /** The container (created, or re-created to publish HTTPS) and the networks it must be on. */
    async existingOrNew(appNetwork) {
        let current = await inspectIfExists(this.container);
        let networks = [this.network, appNetwork, ...this.edgeNetworks];
        const reason = current && (await this.recreateReason(current));
        if (!current)
            current = await this.create();
        else if (reason) {
            // Docker cannot publish a port on an existing container: a new one, on every network the old
            // one had. Every app's routes are in the config volume, so they come back with it.
            networks = [...new Set([...Object.keys(current.NetworkSettings.Networks), ...networks])];
            this.host.log.warning(`The proxy ${this.name} ${reason} (once; every app on it is unreachable for a few seconds)`);
            await this.host.handover.generations.removeAll();
            await this.container.remove({ force: true });
            current = await this.create();
        }
        this.check(current);
        return { current, networks };
    }
    /** proxy-networks: the edge's Docker networks the proxy joins. */
    get edgeNetworks() {
        return this.host.settings.networks ?? [];
    }
    /** Every network of proxy-networks exists (an edge's network is the user's to create), before anything changes. */
    async checkEdgeNetworks() {
        for (const network of this.edgeNetworks) {
            const found = await this.host.docker
                .getNetwork(network)
                .inspect()
                .then(() => true, e => {
                if (e.statusCode === 404)
                    return false;
                throw e;
            });
            if (!found) {
                throw new ProxyError(`The Docker network ${network} named in proxy-networks does not exist on the host. Nothing was changed. ` +
                    `Name the network your edge proxy is on (docker network ls), or create it (docker network create ${network}) and attach the edge to it.`);
            }
        }
    }
    /**
     * Where cutover's own checks reach the proxy: its public port from the host, or with proxy-port
     * none or proxy-protocol (an edge in front) its probe port at its address on its own network.
     */
    async probeEntry() {
        const { settings } = this.host;
        if (!settings.unpublished && !settings.proxyProtocol) {
            const anyAddress = !settings.hostIp || settings.hostIp === '0.0.0.0' || settings.hostIp === '::';
            return { host: anyAddress ? '127.0.0.1' : settings.hostIp, port: settings.port };
        }
        const info = await inspectIfExists(this.container);
        const address = info?.NetworkSettings.Networks[this.network]?.IPAddress;
        if (!address)
            throw new ProxyError(`The proxy ${this.name} has no address on its network ${this.network}: is it running?`);
        return { host: address, port: HAPROXY_PROBE_PORT };
    }
    /**
     * A stopped proxy starts (with the files it needs); a running one gets this version's base file by
     * a reload; a holder's processes converge on proxy-image (haproxy-handover.ts).
     */
    async startOrUpdate(current) {
        const { files, admin, log } = this.host;
        const base = await this.baseWanted();
        if (current.State.Running) {
            // A base from before holders (an earlier cutover's proxy) declares its listeners with no switch:
            // this version's base first, so that a hand-over can turn that container off.
            const beforeHolders = base !== undefined && !((await files.file(BASE_FILE)) ?? '').includes(HOLDER_OFF_VAR);
            if (beforeHolders)
                await this.updateBase(base);
            await this.writeSharedDefaults(undefined);
            await this.host.handover.converge(current, this.givenImage, admin);
            if (base !== undefined && !beforeHolders)
                await this.updateBase(base);
        }
        else {
            await this.writeSharedDefaults(base);
            await this.resolveNoServerAtLoad();
            // Addresses a reload handed on are stale for a process that starts: its servers wait for DNS.
            await files.put(SERVER_STATE_FILE, EMPTY_SERVER_STATE);
            log[downSince(current) ? 'warning' : 'info'](`Starting the proxy ${this.name}${downSince(current) ?? ''}`);
            await this.container.start().catch(e => {
                // 304: it was started in the meantime (by Docker's restart policy, say)
                if (e.statusCode !== 304)
                    throw e;
            });
            await admin.waitForAdmin(haproxy_lifecycle_START_TIMEOUT_MS);
            await this.host.handover.converge(await this.container.inspect(), this.givenImage, admin);
        }
    }
    /** A running proxy gets this version's base file by a tested reload. */
    async updateBase(base) {
        const { files, admin, log } = this.host;
        const before = await files.file(BASE_FILE);
        // A base from before HTTPS names files older proxies do not have yet.
        await this.writeSharedDefaults(undefined);
        await files.put(BASE_FILE, base);
        const upgraded = await this.resolveNoServerAtLoad();
        log.info(`Updating the shared settings of the proxy ${this.name}`);
        await admin.testAndReload([{ file: BASE_FILE, content: before }, ...upgraded]);
    }
    /**
     * Backends written by an older cutover resolve their servers through libc while the proxy loads
     * (a start or reload then waits on the host's upstream resolver for every missing container):
     * rewritten as this version renders them, with the base that hands their addresses on.
     */
    async resolveNoServerAtLoad() {
        const { files } = this.host;
        const old = [...(await files.all())].filter(([name, text]) => name.endsWith('.cfg') && text.includes(LIBC_AT_LOAD));
        for (const [name, text] of old)
            await files.put(name, text.replaceAll(LIBC_AT_LOAD, SERVER_RESOLVE));
        return old.map(([file, content]) => ({ file, content }));
    }
    /**
     * A proxy that has never run (created by this run, or left "Created" by an earlier one whose start
     * failed) and cannot start is removed, so the next run starts clean: it served nothing. Docker's
     * refusal of a published port is said with the port and what holds it.
     */
    async removeIfNeverStarted(current, error) {
        const info = await inspectIfExists(this.container).catch(() => undefined);
        const neverRan = !!info && !info.State.Running && !(Date.parse(info.State.StartedAt ?? '') > 0) && info.Id === current.Id;
        if (!neverRan)
            throw error;
        await this.container.remove({ force: true }).catch(() => undefined);
        const message = error.message ?? String(error);
        const port = /(?:0\.0\.0\.0|\[::\]|:::?):(\d+)/.exec(message)?.[1];
        if (!port) {
            throw new ProxyError(`The proxy ${this.name} could not start (${(0,host_text/* sanitizeHostText */.l)(message, 400)}); its container was removed so the next run creates it again.`);
        }
        throw new ProxyError(`The proxy ${this.name} could not start: port ${port} on the host is taken (${await this.portHolder(Number(port), message)}). ` +
            `Nothing was switched; the proxy container was removed so the next run starts clean. ` +
            `Free port ${port}, or choose another proxy-port${this.host.tls.mode !== 'off' ? ' / https-port' : ''}, and run again.`);
    }
    /** What holds a host port Docker could not publish: another container, or (Docker says so) a process outside Docker. */
    async portHolder(port, message) {
        const holders = await Promise.resolve()
            .then(() => this.host.docker.listContainers({ filters: { publish: [String(port)] } }))
            .catch(() => []);
        const names = holders.map(c => (c.Names?.[0] ?? c.Id).replace(/^\//, '')).filter(n => n !== this.name);
        if (names.length)
            return `the container ${names.join(', ')} publishes it`;
        if (/address already in use/.test(message))
            return 'a process on the host listens on it, not a container';
        return `Docker: ${(0,host_text/* sanitizeHostText */.l)(message, 300)}`;
    }
    publishedPorts(info, key) {
        const bindings = info.HostConfig.PortBindings;
        return (bindings?.[key] ?? []).map(b => Number(b.HostPort));
    }
    /** How HTTPS reaches this proxy container as this run asks for it (haproxy-https-relay.ts). */
    async httpsPath(info) {
        return httpsPath(info, this.host.settings, this.host.tls, await this.host.files.file(PROXY_PROTOCOL_MAP));
    }
    /** HTTPS goes through the relay, and the relay does not run at https-port (the host address of the proxy's other ports). */
    async httpsRelayMissing(info, relay) {
        return (await this.httpsPath(info)) === 'relay' && !this.httpsRelay.serves(relay, this.httpsAddress);
    }
    get httpsAddress() {
        return { host: this.host.settings.hostIp ?? '0.0.0.0', port: this.host.tls.httpsPort };
    }
    /** proxy-image, when given: the image the proxy must run (the default never replaces a running one). */
    get givenImage() {
        return this.host.settings.imageGiven ? this.host.settings.image : undefined;
    }
    /**
     * Why the proxy must be re-created (undefined: it need not). Docker publishes ports only when a
     * container is created: HTTPS and metrics added later are published by relays beside the proxy,
     * except HTTPS for a proxy an edge sends PROXY protocol headers to (the relay's header would hide
     * the edge's). A proxy made by an earlier cutover (one container, its command line without the
     * holder's file) is a holder too: it reads the directory's switch (haproxy-holder-config.ts), so a
     * new proxy-image hands over with no gap there as well; it is never re-created for that.
     */
    async recreateReason(info) {
        if ((await this.httpsPath(info)) === 'recreate') {
            return (`publishes no HTTPS port, and an edge sends it PROXY protocol headers (proxy-protocol), which a relay in front would hide: ` +
                `re-creating it to publish ${this.host.tls.httpsPort}`);
        }
        return undefined;
    }
    /**
     * metrics asked for at an address neither the container nor its relay publishes them at: the relay
     * publishes them (haproxy-metrics-relay.ts), never a re-created proxy.
     */
    async metricsMissing(info) {
        const wanted = this.host.settings.metrics;
        if (!wanted || info.Config.Labels?.[core_names/* LABEL */.d_.proxy] !== 'haproxy')
            return false;
        const bindings = info.HostConfig.PortBindings?.[haproxy_lifecycle_METRICS_PORT_KEY] ?? [];
        if (bindings.some(b => Number(b.HostPort) === wanted.port && (b.HostIp || '0.0.0.0') === wanted.host))
            return false;
        return !(await this.relay.serves(wanted));
    }
    /** The group that may open the admin socket and the host's CPUs (read once per run; the base config names both). */
    async hostFactsOnce() {
        this.factsRead ??= this.host.hostFacts().catch(() => ({}));
        this.facts = await this.factsRead;
    }
    /** The base file as this run wants it, or undefined when the proxy already has it. */
    async baseWanted() {
        const current = await this.host.files.file(BASE_FILE);
        // Apps with different drain-timeouts share the proxy: the longest wins, so they do not take turns.
        const had = hardStopAfterOf(current) ?? 0;
        await this.hostFactsOnce();
        if (this.httpsRelayed)
            this.relayNetwork ??= await this.httpsRelay.proxyNetwork();
        const wanted = renderBaseConfig(Math.max(had, MIN_HARD_STOP_S, Math.ceil(this.host.settings.drainTimeoutMs / 1000)), this.name, {
            adminGroup: this.facts.dockerGroup,
            cpus: this.facts.cpus,
            metrics: this.metricsPublished,
            httpsRelay: this.httpsRelayed ? this.relayNetwork : undefined
        });
        return current === wanted ? undefined : wanted;
    }
    /** Files HAProxy needs to start: the base and the (possibly empty) shared maps. */
    async writeSharedDefaults(base) {
        const { files } = this.host;
        if (base !== undefined)
            await files.put(BASE_FILE, base);
        for (const file of await files.missing(Object.keys(SHARED_DEFAULTS)))
            await files.put(file, SHARED_DEFAULTS[file]);
    }
    /** Refuses a container that is not cutover's HAProxy, or publishes other ports than the inputs ask for (itself or by its HTTPS relay). */
    check(info, relay) {
        const { tls } = this.host;
        const kind = info.Config.Labels?.[core_names/* LABEL */.d_.proxy];
        if (kind !== 'haproxy') {
            throw new ProxyError(`The container ${this.name} exists and is not a cutover HAProxy proxy (${kind ? `a cutover ${kind} proxy` : 'not made by cutover'}). ` +
                `Choose another proxy-name for proxy-type haproxy, or remove that container (and ${this.name}-switch) on the host so cutover can create the HAProxy one (that drops traffic for the apps behind it until they are deployed again).`);
        }
        this.checkPublished(info);
        const relayed = this.httpsRelay.published(relay);
        const https = [...this.publishedPorts(info, haproxy_lifecycle_HTTPS_PORT_KEY), ...(relayed ? [relayed.port] : [])];
        if (tls.mode !== 'off' && https.length && !https.includes(tls.httpsPort)) {
            throw new ProxyError(`The proxy container ${this.name} already publishes HTTPS on port ${https.join(', ')}${relayed ? ` (through ${this.httpsRelay.name})` : ''}, not ${tls.httpsPort} as 'https-port' asks; nothing was changed. ` +
                `Set https-port to match (the proxy is shared by every app on the host).`);
        }
    }
    /**
     * The proxy publishes what proxy-port asks (a port on every address, on one address, or nothing).
     * Docker cannot change that on a running container and the proxy is shared: refused, saying how.
     */
    checkPublished(info) {
        const { settings } = this.host;
        const bindings = info.HostConfig.PortBindings?.[haproxy_lifecycle_PORT_KEY] ?? [];
        const has = bindings.map(b => (0,listen/* describeListen */.R)({ port: Number(b.HostPort), hostIp: b.HostIp && b.HostIp !== '0.0.0.0' ? b.HostIp : undefined }));
        const wanted = (0,listen/* describeListen */.R)(settings);
        const matches = settings.unpublished ? has.length === 0 : has.includes(settings.hostIp === '0.0.0.0' ? String(settings.port) : wanted);
        if (matches)
            return;
        const what = has.length ? `publishes ${has.join(', ')}` : 'publishes no port (proxy-port none)';
        throw new ProxyError(`The proxy container ${this.name} already exists and ${what}, not ${wanted} as 'proxy-port' asks; nothing was changed. ` +
            `The proxy is shared by every app on the host: set proxy-port to ${has[0] ?? 'none'} to use it as it is. ` +
            `To move it, remove it on the host (docker rm -f ${this.name}; its routes and certificates stay in the volume ${this.name}-conf) and deploy again with the new proxy-port: ` +
            `until each app on it has deployed again, those apps are unreachable.`);
    }
    async create() {
        const { docker, settings, tls, registry, log } = this.host;
        await ensureProxyImage(docker, settings.image, registry, log);
        // A relay publishing HTTPS for the container this one replaces gives its port back: published
        // here, with no extra hop.
        const relayed = await this.httpsRelay.remove();
        // HTTPS published from the start when asked for, or when https-port is given: adding tls later
        // then needs no new container (Docker publishes ports only at creation). No host port nobody asked for.
        const httpsPort = tls.mode !== 'off' || tls.httpsPortGiven ? tls.httpsPort : relayed?.port;
        const https = httpsPort !== undefined;
        const metrics = settings.metrics;
        const where = settings.unpublished
            ? `publishing nothing (reached by its name on ${settings.networks?.join(', ') ?? 'its networks'})`
            : `on ${settings.hostIp ? (0,listen/* describeListen */.R)(settings) : `port ${settings.port}`}${https ? ` and ${httpsPort} (HTTPS${tls.mode === 'off' ? ', for when an app has tls' : ''})` : ''}`;
        log.info(`Creating the proxy ${this.name} ${where}${metrics ? `, metrics at ${describeMetrics(settings)}` : ''} (${settings.image}, HAProxy)`);
        const hostIp = settings.hostIp ? { HostIp: settings.hostIp } : {};
        // Another app's deploy may create it at the same moment: then theirs is used.
        const info = await createOrAdopt(docker, {
            name: this.name,
            Image: settings.image,
            // Binding :80 needs root (the official images run as the haproxy user).
            User: 'root',
            Entrypoint: ['haproxy'],
            // Master-worker in the foreground; the holder's switch file, then a directory: every *.cfg in
            // it, in name order (haproxy-holder-config.ts).
            Cmd: ['-W', '-db', '-f', HOLDER_FILE_PATH, '-f', HAPROXY_CONF_DIR],
            // Soft stop: what is in flight finishes.
            StopSignal: 'SIGUSR1',
            Labels: { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.proxy]: 'haproxy' },
            ExposedPorts: { [haproxy_lifecycle_PORT_KEY]: {}, ...(https ? { [haproxy_lifecycle_HTTPS_PORT_KEY]: {} } : {}), ...(metrics ? { [haproxy_lifecycle_METRICS_PORT_KEY]: {} } : {}) },
            HostConfig: {
                PortBindings: {
                    ...(settings.unpublished
                        ? {}
                        : {
                            [haproxy_lifecycle_PORT_KEY]: [{ ...hostIp, HostPort: String(settings.port) }],
                            ...(https ? { [haproxy_lifecycle_HTTPS_PORT_KEY]: [{ ...hostIp, HostPort: String(httpsPort) }] } : {})
                        }),
                    ...(metrics ? { [haproxy_lifecycle_METRICS_PORT_KEY]: [{ HostIp: metrics.host, HostPort: String(metrics.port) }] } : {})
                },
                Binds: [
                    // The config (and so the live colors) survives a re-created container.
                    `${this.name}-conf:${HAPROXY_CONF_DIR}`,
                    // The admin socket, in a host directory only reached over SSH.
                    `${hostRunDir(this.name)}:${HAPROXY_RUN_DIR}`
                ],
                RestartPolicy: { Name: 'unless-stopped' },
                NetworkMode: this.network
            }
        });
        return info;
    }
}
/** `127.0.0.1:9101`, `[::1]:9101`: where the metrics are published. */
function describeMetrics(settings) {
    const m = settings.metrics;
    if (!m)
        return 'no address';
    return `${m.host.includes(':') ? `[${m.host}]` : m.host}:${m.port}`;
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-metrics.ts


/** The releases map's text with `app`'s line replaced by `labels`. */
function withRelease(text, app, labels) {
    const kept = (text ?? EMPTY_RELEASES_MAP).split('\n').filter(l => l && !l.startsWith(`${app} `));
    return [...kept, `${app} ${labels}`].join('\n') + '\n';
}
/**
 * metrics (issue #24), when the proxy serves them: the app's live release in the shared releases
 * map, for the series cutover_release_info: in the file (a restart or reload comes up with it)
 * under the proxy's lock, and in the running proxy through the runtime API. Never fails a switch:
 * a failure is said, and the next switch writes it again.
 */
async function recordRelease(r, route) {
    // Without metrics nothing reads it: a switch takes no lock and no extra round trip for it.
    if (!r.metricsPublished)
        return;
    const labels = releaseLabels(route.color, route.releaseId);
    try {
        await underLock(r.lockProxy, async () => {
            r.files.forget();
            await r.files.put(RELEASES_MAP, withRelease(await r.files.file(RELEASES_MAP), r.app, labels));
            const map = `${HAPROXY_CONF_DIR}/${RELEASES_MAP}`;
            // del answers "Key not found" for an app the running proxy has no line of yet: not an error.
            await r.admin.cli(`del map ${map} ${r.app}`);
            await r.admin.run([`add map ${map} ${r.app} ${labels}`], `the release of ${r.app} for its metrics`);
        });
    }
    catch (e) {
        r.log.warning(`metrics: could not record ${r.app}'s live release for cutover_release_info (${e.message}); the next switch records it`);
    }
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-state.ts

/**
 * The server-state file a reload hands on (SERVER_STATE_FILE, `init-addr last`), reduced to the
 * servers' addresses. HAProxy would also carry over each server's runtime state: a server stopped
 * in the old process (the idle color, `disabled`) stays stopped in the new one even when the new
 * configuration enables it, and with no health check nothing ever brings it up (503s after a
 * reload that switches). So every other field says "as the new configuration has it":
 * running; in maintenance exactly when the new configuration disables it; its configured weight.
 */
/** `backend/server` -> whether the configuration declares that server `disabled`. */
function configuredServers(files) {
    const out = new Map();
    for (const [name, text] of files) {
        if (!name.endsWith('.cfg'))
            continue;
        let backend;
        for (const line of text.split('\n')) {
            const words = line.trim().split(/\s+/);
            if (/^\S/.test(line))
                backend = words[0] === 'backend' ? words[1] : undefined;
            else if (backend && words[0] === 'server' && words[1])
                out.set(`${backend}/${words[1]}`, words.slice(2).includes('disabled'));
        }
    }
    return out;
}
/** HAProxy's server states (srv_op_state, srv_admin_state): running; maintenance set by the configuration (CMAINT | FMAINT). */
const RUNNING = '2';
const READY = '0';
const CONFIG_MAINT = '5';
/**
 * `show servers state` with every server's state and weight replaced by what the new
 * configuration says (its address kept, or `current`'s for `backend/server` keys it names);
 * undefined when the answer is not a state file.
 */
function addressesOnly(state, configured, current = new Map()) {
    const lines = state.split('\n');
    if (lines[0]?.trim() !== '1' || !lines[1]?.startsWith('# '))
        return undefined;
    const header = lines[1].slice(2).trim().split(/\s+/);
    const at = (field) => header.indexOf(field);
    const [be, srv, addr, op, admin, uweight, iweight] = ['be_name', 'srv_name', 'srv_addr', 'srv_op_state', 'srv_admin_state', 'srv_uweight', 'srv_iweight'].map(at);
    if ([be, srv, addr, op, admin, uweight, iweight].some(i => i < 0))
        return undefined;
    const out = lines.map((line, i) => {
        if (i < 2 || !line.trim())
            return line;
        const fields = line.split(' ');
        const disabled = configured.get(`${fields[be]}/${fields[srv]}`);
        if (disabled === undefined)
            return line;
        // A container the run has just read beats the old process's address: after a color's container
        // is replaced (renamed aside, a new one under the name), Docker's DNS may still name the old one.
        fields[addr] = current.get(`${fields[be]}/${fields[srv]}`) ?? fields[addr];
        fields[op] = RUNNING;
        fields[admin] = disabled ? CONFIG_MAINT : READY;
        // The runtime weight is taken only when the configured weight did not change: this one never differs from it.
        fields[uweight] = fields[iweight];
        return fields.join(' ');
    });
    return out.join('\n');
}
/**
 * The route's servers whose address in `show servers state` is none of their container's (a
 * container on several networks the proxy shares may be reached at any of them); a replica whose
 * container was not found is not judged.
 */
function staleServers(state, be, route, addresses) {
    const now = serverAddresses(state);
    return addresses.flatMap(({ wanted, all }, i) => {
        const server = serverName(route.color, i + 1);
        const had = now.get(`${be}/${server}`)?.addr;
        return wanted && had && !all.includes(had) ? [{ server, had, wanted }] : [];
    });
}
/** Each server's address and port in `show servers state` (one backend's or several's), by `backend/server`. */
function serverAddresses(state) {
    const lines = state.split('\n');
    const header = lines
        .find(l => l.startsWith('# '))
        ?.slice(2)
        .trim()
        .split(/\s+/) ?? [];
    const [beAt, srvAt, addrAt, portAt] = ['be_name', 'srv_name', 'srv_addr', 'srv_port'].map(f => header.indexOf(f));
    const out = new Map();
    if ([beAt, srvAt, addrAt, portAt].some(i => i < 0))
        return out;
    for (const line of lines) {
        const fields = line.trim().split(/\s+/);
        if (line.startsWith('#') || fields.length <= portAt)
            continue;
        out.set(`${fields[beAt]}/${fields[srvAt]}`, { addr: fields[addrAt], port: fields[portAt] });
    }
    return out;
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-runtime.ts






class RuntimeApiError extends Error {
    name = 'RuntimeApiError';
}
/**
 * Sends one line to HAProxy's runtime API (commands separated by `;`) and returns its answer.
 * Non-interactive mode: HAProxy answers and closes the connection; bounded by `timeoutMs`.
 */
async function runtimeCommand(open, line, timeoutMs = 5000) {
    if (/[\r\n]/.test(line))
        throw new RuntimeApiError('A runtime API command must be one line');
    const start = (0,trace/* sinceStart */.B)();
    const stream = await open();
    trace/* trace */.u.span('admin socket opened', start);
    const answer = new Promise((resolve, reject) => {
        const chunks = [];
        let settled = false;
        const finish = (e) => {
            if (settled)
                return;
            settled = true;
            clearTimeout(timer);
            // HAProxy has closed its end; an SSH channel stays half-open (held by sshd) until ours ends too.
            stream.end();
            stream.destroy();
            if (e)
                reject(e);
            else
                resolve(Buffer.concat(chunks).toString('utf8'));
        };
        const timer = setTimeout(() => finish(new RuntimeApiError(`The proxy's runtime API did not answer "${line.slice(0, 80)}" within ${timeoutMs} ms`)), timeoutMs);
        stream.on('data', (c) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c));
        stream.on('end', () => finish());
        stream.on('close', () => finish());
        stream.on('error', (e) => finish(new RuntimeApiError(`The proxy's runtime API failed: ${e.message}`)));
        stream.write(line + '\n');
    });
    // The command's first word names the span (`admin set`, `admin show`): what the switch waits on.
    return answer.finally(() => trace/* trace */.u.span(`admin ${line.split(/[ ;]/, 2).join(' ')}`, start));
}
/**
 * Lines of an answer to commands that print nothing on success, or only the note of `set server
 * addr`: HAProxy 2.6 says "IP changed from ..." or "no need to change ...", 3.0 "IP changed from
 * ...", "port changed from ..." or "nothing changed".
 */
function runtimeErrors(answer) {
    return answer
        .split('\n')
        .map(l => l.trim())
        .filter(l => l && !/^(?:IP changed from|port changed from|no need to change|nothing changed$)/i.test(l) && !/^Done\.?$/i.test(l));
}
const SET_ADDR = /^set server (\S+)\/(\S+) addr (\S+)(?: port (\d+))?$/;
/**
 * Commands split in two: each address change with what its server is sent before it (a
 * maintenance that closes idle connections), then the rest in their order. HAProxy 3.0 applies
 * `set server addr` after the line that asked for it (2.6 at once), so a `state ready` in the same
 * line would send requests to the old address, the container the new one replaced.
 */
function addressesFirst(commands) {
    const lastAddr = new Map();
    commands.forEach((c, i) => {
        const m = SET_ADDR.exec(c);
        if (m)
            lastAddr.set(`${m[1]}/${m[2]}`, i);
    });
    const first = [];
    const rest = [];
    commands.forEach((c, i) => {
        const server = /^set server (\S+\/\S+) /.exec(c)?.[1];
        const until = server === undefined ? undefined : lastAddr.get(server);
        if (until !== undefined && i <= until)
            first.push(c);
        else
            rest.push(c);
    });
    return { first, rest };
}
/** The address changes among `commands` that `show servers state` does not show yet (`backend/server`: wanted, had). */
function unappliedAddresses(commands, state) {
    const now = serverAddresses(state);
    return commands.flatMap(c => {
        const m = SET_ADDR.exec(c);
        if (!m)
            return [];
        const had = now.get(`${m[1]}/${m[2]}`);
        const applied = had?.addr === m[3] && (m[4] === undefined || had.port === m[4]);
        return applied ? [] : [`${m[1]}/${m[2]}: ${m[3]}${m[4] ? `:${m[4]}` : ''}, still ${had ? `${had.addr}:${had.port}` : 'not shown'}`];
    });
}
/**
 * An answer to commands followed by `show servers state`: what the commands said, and the state
 * (from its version line on; empty when it is not there).
 */
function splitAtServerState(answer) {
    const m = /(?:^|\n)1\n# be_id /.exec(answer);
    if (!m)
        return { said: answer, state: '' };
    const at = answer.startsWith('\n', m.index) ? m.index + 1 : m.index;
    return { said: answer.slice(0, at), state: answer.slice(at) };
}
/** The backends of the address changes among `commands`. */
function addressBackends(commands) {
    return [...new Set(commands.flatMap(c => SET_ADDR.exec(c)?.[1] ?? []))];
}
/** The release an app's verify map names, from `show map` (`<entry id> <token> <release>` per line; an unknown map answers otherwise). */
function servedRelease(answer) {
    const entry = answer
        .split('\n')
        .map(l => l.trim().split(/\s+/))
        .find(w => w.length === 3 && w[0].startsWith('0x'));
    return entry ? decodeRelease(entry[2]) : undefined;
}
/** The backends the running process knows (`show backend`). */
function parseBackends(answer) {
    return answer
        .split('\n')
        .map(l => l.trim())
        .filter(l => l && !l.startsWith('#'));
}
/** The worker's pid from `show info` (it changes with every reload). */
function parsePid(answer) {
    const m = /^Pid:\s*(\d+)/m.exec(answer);
    return m ? Number(m[1]) : undefined;
}
/** How long opening the admin socket is retried (a reload re-creates it). */
const SOCKET_RETRY_MS = 3000;
/** How long a reload may take before the new worker answers on the admin socket. */
const RELOAD_TIMEOUT_MS = 15_000;
/** How long HAProxy 3.0 may take to apply an address change it has accepted (it showed on the next connection here). */
const ADDRESS_APPLY_MS = 2000;
/**
 * The runtime API of one proxy (its admin socket) and its reload: what switches routes without
 * touching the container.
 */
class HaproxyAdmin {
    process;
    name;
    socketPath;
    socket;
    files;
    pinTimeoutMs;
    /** The worker this run started (a reload, a hand-over): the only one whose answers count. */
    livePid;
    constructor(
    /** The HAProxy process container that serves (its live generation; haproxy-generations.ts). */
    process, name, socketPath, socket, files, 
    /** How long commands are sent again while the leaving worker takes them (pinTo). */
    pinTimeoutMs = RELOAD_TIMEOUT_MS) {
        this.process = process;
        this.name = name;
        this.socketPath = socketPath;
        this.socket = socket;
        this.files = files;
        this.pinTimeoutMs = pinTimeoutMs;
    }
    /**
     * One runtime API line. While another run reloads the proxy, the new worker re-creates the socket:
     * opening it is retried for a few seconds (every command cutover sends is idempotent).
     * After this run started a new worker (a reload, a hand-over), only that worker's answer counts:
     * the leaving one shares the admin socket until it has handled its stop signal, and a change it
     * takes never reaches the one that serves (see pinTo).
     */
    async cli(line) {
        if (this.livePid === undefined)
            return this.send(line);
        const started = Date.now();
        for (;;) {
            const answer = await this.send(`show info; ${line}`);
            const end = answer.indexOf('\n\n');
            const pid = parsePid(answer.slice(0, end < 0 ? answer.length : end));
            if (pid === this.livePid)
                return end < 0 ? '' : answer.slice(end + 2);
            if (Date.now() - started > this.pinTimeoutMs)
                throw new ProxyError(`The proxy ${this.name}'s admin socket kept answering from HAProxy worker ${pid ?? '(none)'} for ${this.pinTimeoutMs / 1000} s, ` +
                    `not from worker ${this.livePid}, which this run started and which serves: "${line.slice(0, 80)}" was not sent to it. Run again.`);
            await new Promise(r => setTimeout(r, 25));
        }
    }
    /**
     * From now on, commands count only when worker `pid` answers them. HAProxy's new worker takes the
     * listening sockets, the admin socket among them, from the one before (expose-fd listeners); both
     * accept on them until the old one has handled its stop signal, and measured here the old one took
     * 32 of 40 connections in that moment.
     */
    pinTo(pid) {
        this.livePid = pid;
    }
    /** Whether this run started a new worker (verify then waits out the old process's listeners). */
    get reloaded() {
        return this.livePid !== undefined;
    }
    /** The pid of whichever worker answers one `show info` (during a hand-over: either). */
    async anyWorkerPid() {
        return this.send('show info').then(parsePid, () => undefined);
    }
    async send(line) {
        const started = Date.now();
        for (;;) {
            try {
                return await runtimeCommand(this.socket, line);
            }
            catch (e) {
                if (e instanceof RuntimeApiError || Date.now() - started > SOCKET_RETRY_MS)
                    throw e;
                await new Promise(r => setTimeout(r, 100));
            }
        }
    }
    /**
     * Commands that print nothing on success; an answer is the proxy refusing `what`. Address changes
     * go first, and the rest only once the running process shows them (see addressesFirst). Their line
     * ends with a look at the servers' state: HAProxy 2.6 shows a new address in it at once, as every
     * version does an address it already had (a rollback, an address Docker gave again), so there it
     * is two lines; HAProxy 3.0 shows a changed one only on a later connection.
     */
    async run(commands, what) {
        const { first, rest } = addressesFirst(commands);
        if (first.length) {
            const looks = addressBackends(first).map(be => `show servers state ${be}`);
            const { said, state } = splitAtServerState(await this.cli([...first, ...looks].join('; ')));
            this.refused(said, what);
            if (unappliedAddresses(first, state).length)
                await this.untilApplied(first, looks, what);
        }
        if (rest.length)
            this.refused(await this.cli(rest.join('; ')), what);
    }
    refused(answer, what) {
        const errors = runtimeErrors(answer);
        if (errors.length)
            throw new ProxyError(`HAProxy (${this.name}) refused ${what}: ${(0,host_text/* sanitizeHostText */.l)(errors.join(' / '), 400)}`);
    }
    /** Until `show servers state` shows every address change among `commands`; bounded (nothing after them was sent). */
    async untilApplied(commands, looks, what) {
        const started = Date.now();
        for (;;) {
            const pending = unappliedAddresses(commands, await this.cli(looks.join('; ')));
            if (!pending.length)
                return;
            if (Date.now() - started > ADDRESS_APPLY_MS)
                throw new ProxyError(`HAProxy (${this.name}) took the new addresses for ${what} but did not apply them within ${ADDRESS_APPLY_MS / 1000} s ` +
                    `(${(0,host_text/* sanitizeHostText */.l)(pending.join(', '), 300)}); nothing after them was sent`);
            await new Promise(r => setTimeout(r, 10));
        }
    }
    /** Until a worker (other than `notPid`) answers on the admin socket; its last log lines if none does. */
    async waitForAdmin(timeoutMs, notPid) {
        const started = Date.now();
        let last;
        for (;;) {
            try {
                const pid = parsePid(await this.send('show info'));
                if (pid !== undefined && pid !== notPid)
                    return pid;
                last = `still worker ${pid}`;
            }
            catch (e) {
                last = e.message;
            }
            if (Date.now() - started > timeoutMs) {
                const logs = await this.process()
                    .then(c => c?.logs({ stdout: true, stderr: true, tail: 10, follow: false }))
                    .then(b => (0,host_text/* sanitizeHostText */.l)(String(b ?? ''), 800))
                    .catch(() => '');
                throw new ProxyError(`The proxy ${this.name} did not answer on its admin socket ${this.socketPath} within ${timeoutMs / 1000} s (${last}); ` +
                    `the SSH user must be allowed to open it (root, in practice). Its last log lines: ${logs}`);
            }
            await new Promise(r => setTimeout(r, 100));
        }
    }
    /** haproxy -c, then SIGUSR2 to the master: a reload that drops nothing (option idle-close-on-response). */
    /** `addresses`: `backend/server` -> the address the run just read for it, handed on over the old process's. */
    async testAndReload(restore, addresses) {
        const container = await this.process();
        if (!container)
            throw new ProxyError(`The proxy ${this.name} runs no HAProxy process: nothing was reloaded. Run again: the next run starts one.`);
        const test = await execIn(container, ['haproxy', '-c', '-f', HAPROXY_CONF_DIR]);
        if (test.exitCode !== 0) {
            // Put back what was there so no later reload (of any app), nor a restart, picks up the bad file.
            for (const r of restore)
                await this.files.put(r.file, r.content ?? '# Removed by cutover.\n', r.mode);
            const alerts = (test.stderr + test.stdout)
                .split('\n')
                .filter(l => /ALERT/.test(l))
                .join('\n');
            throw new ProxyError(`HAProxy (${this.name}) refused the new configuration: ${(0,host_text/* sanitizeHostText */.l)(alerts || (test.stderr || test.stdout).trim(), 600)}`);
        }
        // A proxy made by an older cutover may have a socket only root can open: the reload through
        // Docker's API (which this user may call) brings it up with the group's access.
        const pid = await this.cli('show info').then(parsePid, () => undefined);
        await this.handOnServerState(addresses);
        await container.kill({ signal: 'SIGUSR2' });
        this.pinTo(await this.waitForAdmin(RELOAD_TIMEOUT_MS, pid));
        // Read by the new process as it started: a later start must not take these addresses.
        await this.files.put(SERVER_STATE_FILE, EMPTY_SERVER_STATE);
    }
    /**
     * The running process's server addresses for the one the reload starts (`init-addr last`; their
     * states as the new files say: haproxy-state.ts): it resolves nothing while it loads, and serves
     * from its first request.
     * Without an answer the new process waits for Docker's DNS (a brief 503 for requests that come first).
     */
    async handOnServerState(addresses) {
        const state = await this.cli('show servers state').catch(() => undefined);
        this.files.forget();
        const handed = state === undefined ? undefined : addressesOnly(state, configuredServers(await this.files.all()), addresses);
        await this.files.put(SERVER_STATE_FILE, handed ?? EMPTY_SERVER_STATE);
    }
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-stats.ts

/** The response-code counters of `show stat` (HTTP mode); their sum is every response counted. */
const RESPONSE_FIELDS = ['hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other'];
/** `show stat <backend> 2 -1`: the backend's own row (type 2 = backend, -1 = every server id). */
function statCommand(backend) {
    return `show stat ${backend} 2 -1`;
}
/** `show stat <backend> 4 -1`: the backend's server rows (type 4 = server). */
function serverStatCommand(backend) {
    return `show stat ${backend} 4 -1`;
}
/**
 * HAProxy's TIME_STATS_SAMPLES: a server's `rtime` is the plain mean of its responses until it has
 * answered this many, then a moving average in which each new response weighs 1/512.
 */
const HAPROXY_TIME_SAMPLES = 512;
/** A server's color from its name (`green`, `green-2`: haproxy-strategy.ts's serverName). */
const haproxy_stats_SERVER_NAME = /^(blue|green)(?:-\d+)?$/;
/**
 * canary-steps: each of the backend's servers' responses, 5xx and moving average response time
 * (`rtime`, ms) from `show stat` CSV. The number of responses the average is over is the server's
 * HTTP request count (`req_tot`; `lbtot` where a version leaves it empty), capped at 512.
 */
function serverCountsOf(csv, backend) {
    const { rows, at } = table(csv, ['rtime', 'lbtot']);
    const counts = [];
    for (const row of rows) {
        const server = row[at('svname')];
        const color = haproxy_stats_SERVER_NAME.exec(server)?.[1];
        if (row[at('pxname')] !== backend || !color)
            continue;
        const count = (f) => (at(f) < 0 ? 0 : Number(row[at(f)]) || 0);
        const requests = count('req_tot') || count('lbtot');
        counts.push({
            color,
            server,
            responses: RESPONSE_FIELDS.reduce((sum, f) => sum + count(f), 0),
            errors: count('hrsp_5xx'),
            averageMs: count('rtime'),
            averageSamples: Math.min(requests, HAPROXY_TIME_SAMPLES),
            averageWindow: HAPROXY_TIME_SAMPLES
        });
    }
    return counts;
}
/** The rows of `show stat` CSV and a field's column; throws when the header or a needed field is missing. */
function table(csv, needed) {
    const lines = csv.split('\n').filter(l => l.trim());
    const header = lines.find(l => l.startsWith('# '));
    if (!header)
        throw new RuntimeApiError(`The proxy's statistics have no header line: ${JSON.stringify(csv.slice(0, 120))}`);
    const fields = header.slice(2).split(',');
    const at = (name) => fields.indexOf(name);
    const missing = ['pxname', 'svname', ...RESPONSE_FIELDS, ...needed].filter(f => at(f) < 0);
    if (missing.length)
        throw new RuntimeApiError(`The proxy's statistics lack ${missing.join(', ')}`);
    return { rows: lines.filter(l => !l.startsWith('#')).map(l => l.split(',')), at };
}
/**
 * The responses the app's backend sent and how many were 5xx, from `show stat` CSV (`# pxname,svname,...`
 * then one row per proxy/server): the BACKEND row, which also counts HAProxy's own errors for the
 * app (a 503 when its servers refuse connections), not only the app's answers. Running totals since
 * the HAProxy worker started.
 */
function responseCountsOf(csv, backend) {
    const { rows, at } = table(csv, []);
    const row = rows.find(r => r[at('pxname')] === backend && r[at('svname')] === 'BACKEND');
    if (!row)
        throw new RuntimeApiError(`The proxy's statistics have no row for the backend ${backend}`);
    const count = (f) => Number(row[at(f)]) || 0;
    return { responses: RESPONSE_FIELDS.reduce((sum, f) => sum + count(f), 0), errors: count('hrsp_5xx') };
}
/** `show stat -1 2 -1`: every backend's own row. */
const ALL_BACKENDS_STAT = 'show stat -1 2 -1';
/**
 * The sessions `backends` hold now (`scur` of their BACKEND rows): the app's requests in flight. A
 * backend without a row (none in this process) holds none.
 */
function sessionsOf(csv, backends) {
    const { rows, at } = table(csv, ['scur']);
    return rows.filter(r => r[at('svname')] === 'BACKEND' && backends.includes(r[at('pxname')])).reduce((sum, r) => sum + (Number(r[at('scur')]) || 0), 0);
}
/** `show stat -1 4 -1`: every backend's server rows. */
const ALL_SERVERS_STAT = 'show stat -1 4 -1';
/** The servers of `backends` that are one of the app's colors (`blue`, `green-2`), from `show stat` CSV. */
function serverSessionsOf(csv, backends) {
    const { rows, at } = table(csv, ['scur', 'qcur', 'status']);
    return rows
        .filter(r => backends.includes(r[at('pxname')]) && haproxy_stats_SERVER_NAME.test(r[at('svname')]))
        .map(r => ({
        color: haproxy_stats_SERVER_NAME.exec(r[at('svname')])[1],
        sessions: (Number(r[at('scur')]) || 0) + (Number(r[at('qcur')]) || 0),
        status: r[at('status')]
    }));
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-idle.ts






/** One worker's answer to both: its pid and uptime, then every server's sessions and status. */
const IDLE_QUERY = `show info; ${ALL_SERVERS_STAT}`;
/**
 * A process left behind by a reload is told to stop once the new worker is ready, a moment after
 * that worker started: seconds allowed for it, on top of hard-stop-after.
 */
const STOP_SIGNAL_MARGIN_S = 5;
/** The worker's pid and uptime from `show info` (undefined when the answer has neither). */
function workerOf(answer) {
    const pid = /^Pid:\s*(\d+)/m.exec(answer)?.[1];
    const uptime = /^Uptime_sec:\s*(\d+)/m.exec(answer)?.[1];
    return pid && uptime ? { pid: Number(pid), uptimeS: Number(uptime) } : undefined;
}
/**
 * The app's colors that no new request can reach and whose requests the proxy no longer holds, from
 * one worker's answer to IDLE_QUERY. A color counts only when every one of its servers in `backends`
 * (the app's, its preview's) is out of rotation — in maintenance, or draining without sticky
 * cookies (which still send their clients to a draining server) — and holds no session and no
 * queued request. And only when no older process can still hold one: a process left behind by a
 * reload (or a hand-over) keeps its connections up to hard-stop-after, and its counters are not in
 * this answer, so the answering worker must have started longer ago than that.
 */
function idleColorsOf(answer, backends, hardStopAfterS, sticky) {
    const worker = workerOf(answer);
    if (!worker || worker.uptimeS < hardStopAfterS + STOP_SIGNAL_MARGIN_S)
        return [];
    const csv = answer.slice(answer.indexOf('\n# '));
    const servers = serverSessionsOf(csv, backends);
    const outOfRotation = (status) => status.startsWith('MAINT') || (status === 'DRAIN' && !sticky);
    return core_names/* COLORS */.lm.filter(color => {
        const own = servers.filter(s => s.color === color);
        return own.length > 0 && own.every(s => outOfRotation(s.status) && s.sessions === 0);
    });
}
/**
 * Asks the running proxy which of the app's colors are idle (idleColorsOf), in the app's backend and
 * its preview's. hard-stop-after comes from the base file as it is now (not as the run read the
 * volume), once per worker: a reload (a new pid) is the only way a larger value reaches a process,
 * and the only way a process is left behind.
 */
class HaproxyIdleColors {
    admin;
    container;
    app;
    sticky;
    hardStop;
    constructor(admin, 
    /** The proxy's own container, which holds the configuration volume. */
    container, app, sticky) {
        this.admin = admin;
        this.container = container;
        this.app = app;
        this.sticky = sticky;
    }
    async idleColors() {
        const answer = await this.admin.cli(IDLE_QUERY);
        const worker = workerOf(answer);
        // Younger than any hard-stop-after can be (no file read needed): an older process may still hold requests.
        if (!worker || worker.uptimeS < MIN_HARD_STOP_S + STOP_SIGNAL_MARGIN_S)
            return [];
        if (this.hardStop?.pid !== worker.pid) {
            // Unread (the file could not be read): not idle this time, read again the next.
            const seconds = getFile(this.container, `${HAPROXY_CONF_DIR}/${BASE_FILE}`).then(text => hardStopAfterOf(text), () => {
                this.hardStop = undefined;
                return undefined;
            });
            this.hardStop = { pid: worker.pid, seconds };
        }
        const seconds = await this.hardStop.seconds;
        return seconds === undefined ? [] : idleColorsOf(answer, [backendName(this.app), previewBackendName(this.app)], seconds, this.sticky);
    }
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-request-log.ts


/**
 * canary-steps (issue #24): true percentiles from HAProxy 2.6, which keeps none. While a step
 * holds, the app's backend has an entry in REQUEST_LOG_MAP (runtime API only: a reload, or a run
 * that died, leaves the file's empty map, so logging stops by itself at the next reload); the
 * frontend then logs each of its requests as one line to the in-memory ring REQUEST_RING:
 *
 *   <step token> <pid> <request number> <server> <Tr ms> <status>
 *
 * `show events <ring>` prints what the ring holds. The ring is bounded (REQUEST_RING_BYTES, shared
 * by every app in a step at once): when the app's requests between two reads overflow it, a read
 * sees only the latest ones, so the step's percentiles are over a sample of its latest requests.
 * Lines are told apart by pid and request number (read again, a line counts once).
 */
const MAP_PATH = `${HAPROXY_CONF_DIR}/${REQUEST_LOG_MAP}`;
/** A server's color from its name (`green`, `green-2`: haproxy-strategy.ts's serverName). */
const haproxy_request_log_SERVER_NAME = /^(blue|green)(?:-\d+)?$/;
/** Whether the running process declares the ring and its map (a proxy not yet reloaded with this version's base does not). */
async function requestLogAvailable(admin) {
    return (await admin.cli('show map')).includes(MAP_PATH);
}
/** From now on the app's requests are logged under `token` (one word); false: this proxy has no request ring. */
async function startRequestLog(admin, app, token) {
    if (!/^[\w.:-]+$/.test(token))
        throw new RuntimeApiError(`A request log token must be one word: ${JSON.stringify(token)}`);
    if (!(await requestLogAvailable(admin)))
        return false;
    const key = backendName(app);
    const present = (await admin.cli(`show map ${MAP_PATH}`)).split('\n').some(l => l.split(/\s+/)[1] === key);
    await admin.run([`${present ? 'set' : 'add'} map ${MAP_PATH} ${key} ${token}`], `to log ${app}'s requests during a canary step`);
    return true;
}
/** The app's requests are logged nowhere again. */
async function stopRequestLog(admin, app) {
    if (!(await requestLogAvailable(admin)))
        return;
    const key = backendName(app);
    const present = (await admin.cli(`show map ${MAP_PATH}`)).split('\n').some(l => l.split(/\s+/)[1] === key);
    if (present)
        await admin.run([`del map ${MAP_PATH} ${key}`], `to stop logging ${app}'s requests`);
}
/** The ring's lines logged under `token`. */
async function readRequestLog(admin, token) {
    return requestLinesOf(await admin.cli(`show events ${REQUEST_RING}`), token);
}
/**
 * The lines of a `show events` answer logged under `token`, with a color (a request the proxy
 * answered itself, `<NOSRV>`, has none: the counters count it). An unknown ring is an error.
 */
function requestLinesOf(answer, token) {
    if (/^No such event sink/i.test(answer.trim()))
        throw new RuntimeApiError(`The proxy has no request ring ${REQUEST_RING}: ${answer.trim().slice(0, 120)}`);
    const lines = [];
    for (const line of answer.split('\n')) {
        const [step, pid, request, server, ms, status] = line.trim().split(' ');
        if (step !== token || status === undefined)
            continue;
        const color = haproxy_request_log_SERVER_NAME.exec(server)?.[1];
        if (!color)
            continue;
        const responseMs = Number(ms);
        lines.push({ key: `${pid}:${request}`, color, responseMs: responseMs >= 0 ? responseMs : undefined, status: Number(status) });
    }
    return lines;
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-addresses.ts




/** Per replica of the route's color: its address on the app's network (where the proxy reaches it), and on every network it is on. */
async function containerAddresses(docker, app, route) {
    return Promise.all(oneTo(route.replicas ?? 1).map(async (i) => {
        const info = await docker
            .getContainer((0,core_names/* containerName */.xN)(app, route.color, i))
            .inspect()
            .catch(() => undefined);
        const networks = Object.values(info?.NetworkSettings.Networks ?? {});
        return {
            wanted: info?.NetworkSettings.Networks[`cutover-${app}`]?.IPAddress || undefined,
            all: networks.map(n => n.IPAddress).filter(Boolean)
        };
    }));
}
/**
 * The release header proves the proxy routes this release, not which container answered: the
 * route's servers must be at the addresses its containers have now (Docker's truth). One that is
 * not (a container replaced under its name while the proxy kept the old address) is set right at
 * run time, and said.
 */
async function confirmAddresses(proxy, route) {
    const { app, name, docker, admin, log } = proxy;
    const be = backendName(app);
    const [state, addresses] = await Promise.all([admin.cli(`show servers state ${be}`), containerAddresses(docker, app, route)]);
    const stale = staleServers(state, be, route, addresses);
    if (!stale.length)
        return;
    await admin.run(stale.map(s => `set server ${be}/${s.server} addr ${s.wanted} port ${route.appPort}`), `the addresses of ${app} ${route.color}`);
    log.warning(`The proxy ${name} sent ${app} ${route.color}'s requests to ${stale.map(s => `${s.had} (${s.server})`).join(', ')}, ` +
        `not to its container${stale.length > 1 ? 's' : ''} at ${stale.map(s => s.wanted).join(', ')}: set right through the runtime API`);
}

;// CONCATENATED MODULE: ./src/acme/state.ts

function wantedFile(app) {
    return `acme-${app}.json`;
}
const WANTED_FILE = /^acme-([a-z0-9-]+)\.json$/;
/**
 * dns-01: where the renewer publishes TXT records, the TSIG key included (issue #23). Root-only
 * (0600) in the proxy's config volume, the one place the renewer reads; never in an environment
 * variable (docker inspect shows those) nor in the log. Not matched by WANTED_FILE (`.dns.json`).
 */
function dnsFile(app) {
    return `acme-${app}.dns.json`;
}
const ACCOUNT_KEY_FILE = 'acme-account.key';
function challengeFile(token) {
    return `acme-challenge-${token}`;
}
/** ACME tokens are base64url (RFC 8555 §8.1): anything else is not looked up. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
/** The leaf of a PEM file (certificate chain + key), or undefined when it holds none. */
function readCertificate(pem) {
    const block = pem && /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
    if (!block)
        return undefined;
    try {
        const c = new external_node_crypto_.X509Certificate(block);
        return {
            issuer: c.issuer.replace(/\n/g, ', '),
            notBefore: new Date(c.validFrom),
            notAfter: new Date(c.validTo),
            serial: c.serialNumber,
            names: (c.subjectAltName ?? '')
                .split(',')
                .map(s => s.trim())
                .filter(s => s.startsWith('DNS:'))
                .map(s => s.slice(4).toLowerCase())
        };
    }
    catch {
        return undefined;
    }
}
/** Renewal is due when less than `fraction` of the lifetime is left (Let's Encrypt suggests a third). */
function renewalDue(cert, domains, now, fraction) {
    if (!cert)
        return 'no certificate yet';
    const missing = domains.filter(d => !cert.names.includes(d.toLowerCase()));
    if (missing.length)
        return `the certificate does not cover ${missing.join(', ')}`;
    const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
    const left = cert.notAfter.getTime() - now.getTime();
    if (left < lifetime * fraction)
        return `${Math.max(0, Math.round(left / 3_600_000))} h of ${Math.round(lifetime / 3_600_000)} h left`;
    return undefined;
}

// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: external "node:url"
var external_node_url_ = __webpack_require__(3136);
;// CONCATENATED MODULE: ./src/proxy/haproxy-acme.ts











/** Where the renewer program is copied in its container (never onto the host's disk). */
const PROGRAM_DIR = '/cutover-acme';
const PROGRAM = `${PROGRAM_DIR}/index.mjs`;
/** Label holding a hash of the program and image the renewer runs: a new cutover version replaces it. */
const PROGRAM_LABEL = 'cutover.acme-program';
/** The renewer bundle (dist/acme/index.js, built by ncc beside the action's dist/index.js; the command line's dist/cli/index.js looks one folder up). */
function renewerProgram() {
    // Built from a variable, so the bundler does not take it for an asset to copy.
    const parts = ['acme', 'index.js'];
    const here = (0,external_node_path_.dirname)((0,external_node_url_.fileURLToPath)(import.meta.url));
    const path = [(0,external_node_path_.join)(here, ...parts), (0,external_node_path_.join)(here, '..', ...parts)].find(p => (0,external_node_fs_.existsSync)(p)) ?? (0,external_node_path_.join)(here, ...parts);
    try {
        return (0,external_node_fs_.readFileSync)(path);
    }
    catch (e) {
        throw new ProxyError(`The ACME renewer program ${path} is missing from the action (${e.message}): run npm run build`);
    }
}
/**
 * The `<proxy>-acme` container (tls auto): cutover's renewer program in a Node image, on the proxy's
 * network, with the proxy's config volume and admin socket. It answers HTTP-01 challenges and
 * renews certificates on the host by itself; a deploy asks it for a new certificate with `docker exec`.
 */
class AcmeRenewer {
    docker;
    proxyName;
    network;
    image;
    registry;
    log;
    name;
    constructor(docker, proxyName, network, image, registry, log) {
        this.docker = docker;
        this.proxyName = proxyName;
        this.network = network;
        this.image = image;
        this.registry = registry;
        this.log = log;
        this.name = acmeContainerName(proxyName);
    }
    get container() {
        return this.docker.getContainer(this.name);
    }
    /** Creates (or replaces, when its program or image changed) and starts the renewer; returns its address on the proxy network. */
    async ensureRunning() {
        const program = renewerProgram();
        const hash = (0,external_node_crypto_.createHash)('sha256').update(program).update(this.image).digest('hex').slice(0, 16);
        let info = await inspectIfExists(this.container);
        if (info && info.Config.Labels?.[PROGRAM_LABEL] !== hash) {
            this.log.info(`Replacing the ACME renewer ${this.name} (another cutover version or acme-image); certificates stay in the proxy's volume`);
            await this.container.remove({ force: true });
            info = undefined;
        }
        if (!info) {
            await ensureProxyImage(this.docker, this.image, this.registry, this.log);
            this.log.info(`Creating the ACME renewer ${this.name} (${this.image})`);
            // Tuning knobs (tests force renewals with them): passed on as the run has them.
            const env = Object.entries(process.env)
                .filter(([k]) => /^CUTOVER_ACME_[A-Z_]+$/.test(k))
                .map(([k, v]) => `${k}=${v ?? ''}`);
            try {
                await this.docker.createContainer({
                    name: this.name,
                    Image: this.image,
                    User: 'root',
                    Entrypoint: ['node'],
                    Cmd: [PROGRAM, 'serve'],
                    Env: env,
                    Labels: { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.proxy]: 'acme', [PROGRAM_LABEL]: hash },
                    HostConfig: {
                        Binds: [`${this.proxyName}-conf:${HAPROXY_CONF_DIR}`, `${hostRunDir(this.proxyName)}:${HAPROXY_RUN_DIR}`],
                        RestartPolicy: { Name: 'unless-stopped' },
                        NetworkMode: this.network,
                        // An ACME server on the host itself (a private CA, the test bed's pebble) is reachable by this name.
                        ExtraHosts: ['host.docker.internal:host-gateway']
                    }
                });
                await this.container.putArchive(external_node_stream_.Readable.from([await programArchive(program)]), { path: '/' });
            }
            catch (e) {
                if (!isConflict(e))
                    throw e;
            }
            info = await inspectIfExists(this.container);
            if (!info)
                throw new ProxyError(`The ACME renewer ${this.name} vanished right after it was created`);
        }
        if (!info.State.Running) {
            await this.container.start().catch(e => {
                if (e.statusCode !== 304)
                    throw e;
            });
            info = await this.container.inspect();
        }
        return info.NetworkSettings.Networks[this.network]?.IPAddress || undefined;
    }
    /** Issues the app's certificate unless a valid one covers its names; the renewer's output goes to the log. */
    async issue(app, timeoutMs) {
        const exec = await this.container.exec({ Cmd: ['node', PROGRAM, 'issue', app], AttachStdout: true, AttachStderr: true });
        const stream = await exec.start({ hijack: true, stdin: false });
        const out = new external_node_stream_.PassThrough();
        const lines = [];
        let partial = '';
        out.on('data', (c) => {
            const text = partial + c.toString('utf8');
            const all = text.split('\n');
            partial = all.pop() ?? '';
            for (const l of all) {
                const line = (0,host_text/* sanitizeHostText */.l)(l, 500);
                lines.push(line);
                this.log.info(`  acme: ${line}`);
            }
        });
        this.docker.modem.demuxStream(stream, out, out);
        await new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                stream.destroy();
                reject(new ProxyError(`The ACME issuance for ${app} did not finish within ${timeoutMs / 1000} s (the renewer goes on; the next deploy finds its certificate)`));
            }, timeoutMs);
            stream.on('end', () => (clearTimeout(timer), resolve()));
            stream.on('close', () => (clearTimeout(timer), resolve()));
            stream.on('error', (e) => (clearTimeout(timer), reject(e)));
        });
        if (partial)
            lines.push((0,host_text/* sanitizeHostText */.l)(partial, 500));
        const { ExitCode } = await exec.inspect();
        if (ExitCode !== 0) {
            const why = lines.filter(l => /failed|error/i.test(l)).pop() ?? lines.pop() ?? `exit code ${ExitCode}`;
            throw new ProxyError(why);
        }
    }
}
async function programArchive(program) {
    const pack = tar_stream.pack();
    pack.entry({ name: PROGRAM_DIR.slice(1), type: 'directory', mode: 0o755 });
    pack.entry({ name: PROGRAM.slice(1), mode: 0o644 }, program);
    pack.finalize();
    const chunks = [];
    for await (const c of pack)
        chunks.push(c);
    return Buffer.concat(chunks);
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-tls.ts




/** How long a deploy waits for the ACME server to issue a new certificate. */
const ISSUE_TIMEOUT_MS = 180_000;
const haproxy_tls_TLS_OFF = { mode: 'off', httpsPort: 443, redirect: true, hsts: false, trustedProxies: [] };
/**
 * An app's HTTPS on the HAProxy proxy (issue #10): its certificate (custom, or from ACME through
 * the renewer container), its entries in the shared crt-list and ACME map, and what it reports.
 */
class HaproxyTls {
    host;
    constructor(host) {
        this.host = host;
    }
    get settings() {
        return this.host.settings.tls ?? haproxy_tls_TLS_OFF;
    }
    /** The app's TLS rules as its backend file renders them. */
    get appTls() {
        const t = this.settings;
        return { enabled: t.mode !== 'off', httpsPort: t.httpsPort, redirect: t.redirect, hsts: t.hsts, trustedProxies: t.trustedProxies };
    }
    /** The names the app's certificate covers: its domains and its preview domains. */
    get certifiedNames() {
        return [...this.host.settings.domains, ...(this.host.settings.previewDomains ?? [])].map(d => d.toLowerCase());
    }
    /** The shared TLS files with this app's entries as its settings say (other apps' kept). */
    filesWanted(now) {
        const mode = this.settings.mode;
        return {
            certsList: updateCertsList(now.certsList, this.host.app, mode !== 'off'),
            acmeMap: updateAcmeMap(now.acmeMap, this.host.app, this.httpChallengeNames)
        };
    }
    /** The names whose HTTP-01 challenges the proxy routes to the renewer (none with dns-01). */
    get httpChallengeNames() {
        return this.settings.mode === 'auto' && this.settings.acme?.challenge !== 'dns-01' ? this.certifiedNames : [];
    }
    /** tls custom: the one file HAProxy reads, certificate chain then key. */
    customCertText() {
        const t = this.settings;
        return t.mode === 'custom' && t.certificate && t.key ? `${t.certificate.trim()}\n${t.key.trim()}\n` : undefined;
    }
    /**
     * tls auto: the renewer runs, HTTP-01 challenges of the app's names reach it, and a certificate
     * covering every name exists before the switch. A valid certificate means no wait at all: a deploy
     * never waits on a renewal (the renewer does those on its own).
     */
    async ensure() {
        const acme = this.settings.acme;
        if (this.settings.mode !== 'auto' || !acme)
            return;
        const { docker, network, app, registry, log, lockProxy, files } = this.host;
        const proxy = this.host.settings.name;
        const renewer = new AcmeRenewer(docker, proxy, network, acme.image, registry, log);
        const names = this.certifiedNames;
        const challenge = acme.challenge ?? 'http-01';
        const wanted = { app, domains: names, email: acme.email, directory: acme.directory, directoryCa: acme.directoryCa, challenge };
        const wantedText = JSON.stringify(wanted, null, 2) + '\n';
        // dns-01: the TSIG key goes into a root-only file the renewer reads; http-01 keeps no key there.
        const dnsText = acme.dns ? JSON.stringify(acme.dns, null, 2) + '\n' : undefined;
        const dnsNow = await files.file(dnsFile(app));
        if (dnsText !== undefined ? dnsNow !== dnsText : dnsNow !== undefined && dnsNow !== '{}\n')
            await files.put(dnsFile(app), dnsText ?? '{}\n', 0o600);
        if ((await files.file(wantedFile(app))) !== wantedText)
            await files.put(wantedFile(app), wantedText, 0o600);
        // Under the proxy's lock: two apps' first deploys must not both create (and half-fill) it.
        const address = await underLock(lockProxy, () => renewer.ensureRunning());
        await this.routeChallenges(renewer.name, this.httpChallengeNames);
        // Its address now rather than at the next DNS resolution (it may have just been created).
        // Through run(): HAProxy 3.0 applies an address after its line, so `ready` waits until it shows.
        if (address) {
            const acmeServer = `${ACME_BACKEND}/acme`;
            await this.host.admin
                .run([`set server ${acmeServer} addr ${address} port ${ACME_CHALLENGE_PORT}`, `set server ${acmeServer} state ready`], 'the ACME challenge route')
                .catch((e) => log.warning(`${e.message}; the proxy's DNS resolution of the renewer takes over`));
        }
        files.forget(); // the renewer writes certificates, not this run
        const cert = readCertificate(await files.file(certFile(app)));
        const due = renewalDue(cert, names, new Date(), 0);
        if (!due)
            return;
        log.info(`Requesting a certificate for ${names.join(', ')} from ${acme.directory} by ${challenge} (${due})`);
        try {
            await renewer.issue(app, ISSUE_TIMEOUT_MS);
        }
        catch (e) {
            throw new ProxyError(`No certificate for ${names.join(', ')}: ${e.message}. Nothing was switched; ` +
                (challenge === 'dns-01'
                    ? `the renewer must reach the DNS server ${acme.dns?.server}:${acme.dns?.port} and its TSIG key must allow updates of ${acme.dns?.zone}.`
                    : 'the names must point at this host and its port 80 must reach the proxy.'));
        }
    }
    /** HTTP-01 challenges of the app's names to the renewer (a reload, once). */
    async routeChallenges(renewer, names) {
        const { app, log, lockProxy, files, admin } = this.host;
        if (!names.length && !(await files.file(ACME_MAP))?.includes(` ${app}\n`))
            return;
        await underLock(lockProxy, async () => {
            files.forget();
            const current = (await files.file(ACME_MAP)) ?? EMPTY_ACME_MAP;
            const next = updateAcmeMap(current, app, names);
            if (next === current)
                return;
            log.info(names.length
                ? `Routing ACME challenges for ${names.join(', ')} to ${renewer}: reloading the proxy`
                : `No HTTP-01 challenges of ${app} go to ${renewer} any more: reloading the proxy`);
            await files.put(ACME_MAP, next);
            await admin.testAndReload([{ file: ACME_MAP, content: current }]);
        });
    }
    /** The certificate of each of the app's names, as the proxy has it. */
    async certificates() {
        if (this.settings.mode === 'off' || !(await inspectIfExists(this.host.container)))
            return [];
        this.host.files.forget();
        const cert = readCertificate(await this.host.files.file(certFile(this.host.app)));
        return [...this.host.settings.domains, ...(this.host.settings.previewDomains ?? [])].map(domain => {
            const covered = cert && renewalDue(cert, [domain], new Date(), 0) === undefined;
            return covered ? { domain, issuer: cert.issuer, notAfter: cert.notAfter.toISOString(), serial: cert.serial } : { domain };
        });
    }
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-withdraw.ts








/** What an app's own files become once it is off the proxy: nothing HAProxy loads, no key left on disk. */
const REMOVED = '# Removed by cutover.\n';
/**
 * Takes an app off the shared HAProxy (mode remove, the undo of a failed first deploy): its map
 * entries (domains, the default claim, preview domains), its crt-list and ACME lines go from the
 * shared files, its backend file, verify token, maintenance files and certificate are emptied, and
 * the proxy reloads. A reload is HAProxy's graceful one: the old process finishes the requests it
 * holds (up to hard-stop-after), every other app's backend comes up unchanged in the new one.
 * Under the proxy's lock, read again there, like every change of the shared files. false: the proxy
 * held nothing of the app (or does not exist). With `drain` (mode remove), its host names leave the
 * running process first, and the files and the reload wait until its requests in flight finished
 * (the drain's count, from the running process: a reload would hide them in the old one).
 */
async function withdrawFromHaproxy(deps, drain) {
    const info = await inspectIfExists(deps.container);
    if (!info)
        return false;
    const running = info.State.Running;
    if (!drain || !running)
        return underLock(deps.lockProxy, () => removeFiles(deps, running));
    // With a drain: the host names go first, at run time; the backend stays until its requests
    // finished. Nothing in flight (the usual case): one hold of the proxy's lock. Requests in flight
    // are waited for outside it, so no other app's run waits on this one's drain.
    const before = await underLock(deps.lockProxy, async () => {
        if (!(await unroute(deps)))
            return { withdrawn: await removeFiles(deps, true) };
        const counted = await inFlight(deps);
        if (counted > 0)
            return undefined;
        // No request reaches the app any more: none in flight now is none for good.
        await drain(async () => counted);
        return { withdrawn: await afterUnroute(() => removeFiles(deps, true)) };
    });
    if (before)
        return before.withdrawn;
    await drain(() => inFlight(deps));
    return afterUnroute(() => underLock(deps.lockProxy, () => removeFiles(deps, true)));
}
/** The last step of a withdrawal whose host names already left the proxy: a failure says so. */
async function afterUnroute(removal) {
    try {
        await removal();
        return true;
    }
    catch (e) {
        throw new ProxyError(`its host names already left the proxy, but its backend could not: ${e.message}`);
    }
}
/**
 * New requests no longer reach the app: its entries leave the shared maps, in the files (so a
 * reload by any run keeps them out) and in the running process through its runtime API (`del map`,
 * no reload), which keeps the app's backend and the requests it holds. The caller holds the
 * proxy's lock; false when the maps held nothing of the app.
 */
async function unroute(deps) {
    const { app, name, files, admin, log } = deps;
    files.forget();
    const maps = await files.maps();
    const keys = { [DOMAINS_MAP]: appMapKeys(maps.domains, app), [WILDCARDS_MAP]: appMapKeys(maps.wildcards, app) };
    const commands = Object.entries(keys).flatMap(([map, names]) => names.map(key => `del map ${HAPROXY_CONF_DIR}/${map} ${key}`));
    if (!commands.length)
        return false;
    const next = withoutApp(maps, app);
    await files.putMany([
        { name: DOMAINS_MAP, content: next.domains },
        { name: WILDCARDS_MAP, content: next.wildcards }
    ]);
    // A key the process no longer has (another run's reload in between) is already what we want.
    const errors = runtimeErrors(await admin.cli(commands.join('; '))).filter(l => !/not found/i.test(l));
    if (errors.length) {
        await files.putMany([
            { name: DOMAINS_MAP, content: maps.domains },
            { name: WILDCARDS_MAP, content: maps.wildcards }
        ]);
        throw new ProxyError(`HAProxy (${name}) refused to take ${app}'s host names off: ${(0,host_text/* sanitizeHostText */.l)(errors.join(' / '), 400)}`);
    }
    log.info(`Took ${app}'s host names off the proxy ${name} through its runtime API (no reload): new requests no longer reach it`);
    return true;
}
/** The app's requests the running process still holds (its backends' current sessions). */
async function inFlight(deps) {
    return sessionsOf(await deps.admin.cli(ALL_BACKENDS_STAT), [backendName(deps.app), previewBackendName(deps.app)]);
}
/**
 * The app's own files emptied and its lines out of the shared ones, then a graceful reload (when
 * the proxy runs). The caller holds the proxy's lock; false when the proxy held nothing of the app.
 */
async function removeFiles(deps, running) {
    const { app, name, files, admin, log } = deps;
    files.forget();
    const all = await files.all();
    const maps = { domains: all.get(DOMAINS_MAP) ?? '', wildcards: all.get(WILDCARDS_MAP) ?? '' };
    const nextMaps = withoutApp(maps, app);
    const certsList = all.get(CERTS_LIST);
    const acmeMap = all.get(ACME_MAP);
    const own = [appFile(app), verifyMapFile(app), maintenanceMapFile(app), maintenancePageFile(app)];
    // The maps as they render with nobody taken out: only entries compared, not how the file was written.
    const asIs = withoutApp(maps, '');
    const hasContent = (f) => ![undefined, '', REMOVED].includes(all.get(f));
    const held = nextMaps.domains !== asIs.domains ||
        nextMaps.wildcards !== asIs.wildcards ||
        own.some(hasContent) ||
        hasContent(certFile(app)) ||
        hasContent(wantedFile(app));
    if (!held)
        return false;
    const changes = [
        { name: DOMAINS_MAP, content: nextMaps.domains },
        { name: WILDCARDS_MAP, content: nextMaps.wildcards },
        ...(certsList !== undefined ? [{ name: CERTS_LIST, content: updateCertsList(certsList, app, false) }] : []),
        ...(acmeMap !== undefined ? [{ name: ACME_MAP, content: updateAcmeMap(acmeMap, app, []) }] : []),
        ...own.filter(f => all.has(f)).map(f => ({ name: f, content: REMOVED })),
        ...(all.has(certFile(app)) ? [{ name: certFile(app), content: '', mode: 0o600 }] : []),
        // tls auto: the renewer skips an emptied wanted file, so the app's certificate is not renewed again.
        ...(all.has(wantedFile(app)) ? [{ name: wantedFile(app), content: '', mode: 0o600 }] : [])
    ];
    const restore = changes.map(c => ({ file: c.name, content: all.get(c.name), mode: c.mode }));
    log.info(`Taking ${app} off the proxy ${name} (its domains, backend ${backendName(app)} and certificate): reloading it gracefully`);
    await files.putMany(changes);
    // A stopped proxy loads its files when it starts: there is no process to reload.
    if (running)
        await admin.testAndReload(restore);
    return true;
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-generations.ts





/** On a generation: the proxy (its holder's name) whose HAProxy it runs, and its number. */
const GENERATION_OF_LABEL = 'cutover.proxy-generation-of';
const GENERATION_LABEL = 'cutover.proxy-generation';
/**
 * The HAProxy processes of one proxy. The proxy's holder container owns the network namespace, the
 * published ports and the Docker networks; each generation is a container in that namespace
 * (`--network container:<holder>`, and its PID namespace, so a holder that dies takes its
 * generations with it). A new generation takes the listening sockets from the live one through the
 * admin socket (`-x`, `expose-fd listeners`), then the old one is told to finish what it serves
 * (SIGUSR1): nothing is ever unbound (bench/PROXY-DESIGN.md, "Upgrading the proxy with no gap").
 */
class HaproxyGenerations {
    docker;
    proxyName;
    log;
    constructor(docker, 
    /** The holder's name: the proxy's name. */
    proxyName, log) {
        this.docker = docker;
        this.proxyName = proxyName;
        this.log = log;
    }
    /** Every generation container of this proxy, oldest first. */
    async list() {
        const found = await this.docker.listContainers({ all: true, filters: { label: [`${GENERATION_OF_LABEL}=${this.proxyName}`] } });
        const details = await Promise.all(found.map(c => inspectIfExists(this.docker.getContainer(c.Id))));
        return details
            .filter((d) => !!d)
            .map(d => ({
            id: d.Id,
            name: d.Name.replace(/^\//, ''),
            number: Number(d.Config.Labels?.[GENERATION_LABEL] ?? 0),
            image: d.Config.Image,
            running: d.State.Running,
            retired: d.HostConfig.RestartPolicy?.Name === 'no',
            startedAt: Date.parse(d.State.StartedAt ?? '') || 0
        }))
            .sort((a, b) => a.number - b.number);
    }
    /**
     * The generation that serves: the newest running one not retired, started since the holder last
     * started (one started before runs in a namespace that is gone).
     */
    live(generations, holderStartedAt) {
        return generations.filter(g => g.running && !g.retired && g.startedAt >= holderStartedAt).pop();
    }
    /** The live generation's container, for `haproxy -c`, the reload signal and its logs. */
    async liveContainer(holder) {
        if (!holder?.State.Running)
            return undefined;
        const live = this.live(await this.list(), Date.parse(holder.State.StartedAt ?? '') || 0);
        return live && this.docker.getContainer(live.id);
    }
    /**
     * Creates and starts the next generation in the holder's namespaces, with `image`. It takes the
     * listening sockets of whatever HAProxy answers on the admin socket (none: it binds them).
     */
    async start(holder, image, generations) {
        const number = Math.max(0, ...generations.map(g => g.number)) + 1;
        const name = `${this.proxyName}-g${number}`;
        const container = await this.docker.createContainer({
            name,
            Image: image,
            // Binding :80 needs root (the official images run as the haproxy user).
            User: 'root',
            Entrypoint: ['haproxy'],
            // Master-worker in the foreground, every *.cfg of the directory; -x: the live process's sockets
            // (a start with nothing to take from binds them itself).
            Cmd: ['-W', '-db', '-f', HAPROXY_CONF_DIR, '-x', `${HAPROXY_RUN_DIR}/${HAPROXY_SOCKET}`],
            StopSignal: 'SIGUSR1',
            // The holder's switch (haproxy-holder-config.ts) is in the directory it loads: not for it.
            Env: [`${GENERATION_VAR}=${number}`],
            Labels: { [core_names/* LABEL */.d_.managed]: 'true', [GENERATION_OF_LABEL]: this.proxyName, [GENERATION_LABEL]: String(number) },
            HostConfig: {
                Binds: [`${this.proxyName}-conf:${HAPROXY_CONF_DIR}`, `${hostRunDir(this.proxyName)}:${HAPROXY_RUN_DIR}`],
                NetworkMode: `container:${holder.Id}`,
                PidMode: `container:${holder.Id}`,
                RestartPolicy: { Name: 'unless-stopped' }
            }
        });
        try {
            await container.start();
        }
        catch (e) {
            await container.remove({ force: true }).catch(() => undefined);
            throw new ProxyError(`The proxy ${this.proxyName}'s new HAProxy process (${image}) could not start: ${(0,host_text/* sanitizeHostText */.l)(e.message, 400)}`);
        }
        const info = await container.inspect();
        return { id: info.Id, name, number, image, running: true, retired: false, startedAt: Date.parse(info.State.StartedAt) || Date.now() };
    }
    /**
     * Tells older generations to finish what they serve and exit (SIGUSR1: soft stop, bounded by
     * hard-stop-after), after taking away their restart policy so Docker does not start them again.
     */
    async retire(generations) {
        for (const g of generations) {
            if (!g.running)
                continue;
            const container = this.docker.getContainer(g.id);
            if (!g.retired)
                await container.update({ RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } });
            await container.kill({ signal: 'SIGUSR1' }).catch(e => {
                // 409: it has just exited.
                if (e.statusCode !== 409)
                    throw e;
            });
            this.log.info(`The proxy ${this.proxyName}'s earlier HAProxy process ${g.name} finishes what it serves and exits`);
        }
    }
    /** Removes generations that have exited (a retired one that finished, or one that died with its holder). */
    async removeExited(generations) {
        for (const g of generations.filter(g => !g.running)) {
            await this.docker
                .getContainer(g.id)
                .remove({ force: true })
                .catch(() => undefined);
        }
    }
    /** Removes every generation at once (the holder goes, or its namespace did). */
    async removeAll() {
        for (const g of await this.list()) {
            await this.docker
                .getContainer(g.id)
                .remove({ force: true })
                .catch(() => undefined);
        }
    }
    /** A generation's last log lines (why it did not answer). */
    async lastLogs(id) {
        return this.docker
            .getContainer(id)
            .logs({ stdout: true, stderr: true, tail: 10, follow: false })
            .then(b => (0,host_text/* sanitizeHostText */.l)(String(b), 800))
            .catch(() => '');
    }
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-image-requests.ts
/**
 * Which app asked the shared proxy for which `proxy-image`, so that apps giving different images do
 * not hand the proxy back and forth on each deploy: the latest *change* of any app wins. A file of
 * `<app> <image>` lines in the proxy's volume (not `.cfg`: HAProxy does not load it), written under
 * the proxy's lock.
 */
const IMAGE_REQUESTS_FILE = 'proxy-image-requests.txt';
function parseImageRequests(text) {
    const out = new Map();
    for (const line of (text ?? '').split('\n')) {
        const [app, image] = line.trim().split(/\s+/);
        if (app && image && !app.startsWith('#'))
            out.set(app, image);
    }
    return out;
}
function renderImageRequests(requests) {
    const lines = [...requests].sort(([a], [b]) => a.localeCompare(b)).map(([app, image]) => `${app} ${image}`);
    return `# Managed by cutover: the proxy-image each app last gave.\n${lines.join('\n')}\n`;
}
/** What the proxy should run when `app` gives `asked` while `serving` runs, and which apps' requests keep it if not `asked`. */
function imageToServe(requests, app, asked, serving, 
/** Whether an app still has a route on the proxy (a removed app's request keeps nothing). */
routed) {
    if (asked === undefined || asked === serving)
        return { image: serving ?? asked };
    // This app gave the same image before, and other apps on the proxy gave what serves since: their change stands.
    const keptFor = [...requests].filter(([other, image]) => other !== app && image === serving && routed(other)).map(([other]) => other);
    if (serving !== undefined && requests.get(app) === asked && keptFor.length)
        return { image: serving, keptFor: keptFor.sort() };
    return { image: asked };
}

;// CONCATENATED MODULE: ./src/proxy/haproxy-handover.ts






/** How long a new generation may take to answer on the admin socket. */
const TAKEOVER_TIMEOUT_MS = 20_000;
/**
 * The file that switches a holder off: its own file for a container made by this version (first on
 * its command line), the directory's switch for one made by an earlier cutover, which loads the
 * directory only (haproxy-holder-config.ts). Every HAProxy proxy container is a holder.
 */
function switchFileOf(info) {
    return (info.Config.Cmd ?? []).includes(HOLDER_FILE_PATH) ? HOLDER_FILE : HOLDER_SWITCH_CFG;
}
function startedAt(info) {
    return Date.parse(info.State.StartedAt ?? '') || 0;
}
/**
 * Which HAProxy process of a proxy serves, and the gap-free hand-over to a new one (a changed
 * proxy-image, a newer HAProxy): see haproxy-generations.ts and haproxy-holder-config.ts.
 */
class HaproxyHandover {
    docker;
    proxyName;
    files;
    log;
    app;
    generations;
    /** The live generation's id as this run last saw it (undefined: the holder serves, or not looked yet). */
    liveId;
    looked = false;
    warned = false;
    constructor(docker, proxyName, files, log, 
    /** The app of this run: its proxy-image is recorded, and weighed against other apps' (haproxy-image-requests.ts). */
    app) {
        this.docker = docker;
        this.proxyName = proxyName;
        this.files = files;
        this.log = log;
        this.app = app;
        this.generations = new HaproxyGenerations(docker, proxyName, log);
    }
    get holder() {
        return this.docker.getContainer(this.proxyName);
    }
    /** The container whose HAProxy serves: the live generation, or the proxy's own container. */
    async liveProcess() {
        if (!this.looked) {
            const holder = await inspectIfExists(this.holder);
            const live = holder ? this.generations.live(await this.generations.list(), startedAt(holder)) : undefined;
            this.liveId = live?.id;
            this.looked = true;
        }
        return this.liveId ? this.docker.getContainer(this.liveId) : this.holder;
    }
    /** Whether a running holder's processes are what this run wants: nothing to hand over or clean. */
    async settled(holder, image) {
        const generations = await this.generations.list();
        const live = this.generations.live(generations, startedAt(holder));
        const servingImage = live?.image ?? holder.Config.Image;
        const others = generations.filter(g => g.id !== live?.id && (g.running ? !g.retired : true));
        const holderOff = holderOffSince(await this.files.file(switchFileOf(holder))) === holder.State.StartedAt;
        const { wanted, recorded, keptFor } = await this.decide(image, servingImage);
        if (keptFor)
            this.warnKept(keptFor, servingImage, image);
        return servingImage === (wanted ?? servingImage) && recorded && others.length === 0 && (live ? holderOff : !(await this.switchSaysOff()));
    }
    /** Either switch file says "off" (for some start of the holder). */
    async switchSaysOff() {
        const texts = await Promise.all([HOLDER_FILE, HOLDER_SWITCH_CFG].map(f => this.files.file(f)));
        return texts.some(t => holderOffSince(t) !== undefined);
    }
    warnKept(keptFor, servingImage, image) {
        if (this.warned)
            return;
        this.warned = true;
        this.log.warning(`The proxy ${this.proxyName} keeps ${servingImage}, the proxy-image ${keptFor.join(', ')} gave after this app's ${image}: ` +
            `apps giving different images would hand the proxy back and forth. Give ${this.app} proxy-image: ${servingImage}, or another image to hand the proxy over to it.`);
    }
    /**
     * The image the proxy should run when this app gives `image` while `servingImage` serves (the
     * latest change of any app wins), whether this app's request is recorded as given, and the
     * requests to record.
     */
    async decide(image, servingImage) {
        const all = await this.files.all();
        const requests = parseImageRequests(all.get(IMAGE_REQUESTS_FILE));
        const decision = imageToServe(requests, this.app, image, servingImage, other => all.has(appFile(other)));
        const recorded = image === undefined || requests.get(this.app) === image;
        if (image !== undefined)
            requests.set(this.app, image);
        return { wanted: decision.image, keptFor: decision.keptFor, recorded, requests };
    }
    /**
     * A running holder (the lock held): hands over to a new generation of `image` (proxy-image, when
     * given) when another image serves, or when nothing does; turns the holder off while a generation serves; tells older
     * generations to finish and removes those that have exited. Converges from any state a crash left
     * (two generations running, a holder with none, a generation from before the holder restarted).
     */
    async converge(holder, image, admin) {
        const generations = await this.generations.list();
        const holderServes = holderOffSince(await this.files.file(switchFileOf(holder))) !== holder.State.StartedAt;
        let live = this.generations.live(generations, startedAt(holder));
        const servingImage = live?.image ?? (holderServes ? holder.Config.Image : undefined);
        const decision = await this.decide(image, servingImage);
        if (decision.keptFor)
            this.warnKept(decision.keptFor, servingImage, image);
        // No proxy-image given: what serves stays (a process of the holder's image if none does).
        const wanted = decision.wanted ?? holder.Config.Image;
        if (servingImage !== wanted)
            live = await this.handOver(holder, wanted, generations, admin, servingImage);
        if (!decision.recorded)
            await this.files.put(IMAGE_REQUESTS_FILE, renderImageRequests(decision.requests));
        if (live && holderServes)
            await this.turnHolderOff(holder);
        // A holder started again serves by itself: a switch left "off" for an earlier start of it would
        // turn it off at its next reload, with nothing serving in its place.
        if (!live && (await this.switchSaysOff()))
            await this.files.putMany([HOLDER_FILE, HOLDER_SWITCH_CFG].map(name => ({ name, content: renderHolderFile(undefined) })));
        await this.generations.retire(generations.filter(g => g.id !== live?.id && g.running && !g.retired));
        await this.generations.removeExited(generations);
        this.liveId = live?.id;
        this.looked = true;
    }
    /** Starts the next generation with `image`; it takes the listening sockets from what serves, which then finishes what it has. */
    async handOver(holder, image, generations, admin, servingImage) {
        const oldPid = servingImage === undefined ? undefined : await admin.cli('show info').then(parsePid, () => undefined);
        this.log[servingImage ? 'info' : 'warning'](servingImage
            ? `Handing the proxy ${this.proxyName} over from ${servingImage} to ${image}: the new HAProxy takes the listening sockets, the old one finishes what it serves (no gap)`
            : `The proxy ${this.proxyName} has no HAProxy process serving: starting one (${image})`);
        // The serving process's server addresses: the new one serves from its first request.
        if (oldPid !== undefined)
            await admin.handOnServerState();
        else
            await this.files.put(SERVER_STATE_FILE, EMPTY_SERVER_STATE);
        const next = await this.generations.start(holder, image, generations);
        try {
            await this.awaitTakeover(next, admin, oldPid);
        }
        catch (e) {
            await this.docker
                .getContainer(next.id)
                .remove({ force: true })
                .catch(() => undefined);
            throw e;
        }
        await this.files.put(SERVER_STATE_FILE, EMPTY_SERVER_STATE);
        return next;
    }
    /** Until the new generation's worker answers on the admin socket; its log lines if it exits or does not. */
    async awaitTakeover(next, admin, oldPid) {
        const started = Date.now();
        for (;;) {
            const pid = await admin.anyWorkerPid();
            if (pid !== undefined && pid !== oldPid) {
                // The old process still takes admin connections until it is told to stop: the switch must reach this one.
                admin.pinTo(pid);
                return;
            }
            const info = await inspectIfExists(this.docker.getContainer(next.id));
            if (!info?.State.Running || Date.now() - started > TAKEOVER_TIMEOUT_MS) {
                const why = info?.State.Running ? `it did not answer within ${TAKEOVER_TIMEOUT_MS / 1000} s` : `it exited (code ${info?.State.ExitCode ?? '?'})`;
                throw new ProxyError(`The proxy ${this.proxyName}'s new HAProxy process ${next.name} (${next.image}) did not take over: ${why}; it was removed. ` +
                    `${oldPid === undefined ? 'Nothing served before it either.' : 'The earlier process still serves every app; nothing was switched.'} ` +
                    `Check proxy-image (an HAProxy 2.6 or newer that loads this configuration). Its last log lines: ${await this.generations.lastLogs(next.id)}`);
            }
            await new Promise(r => setTimeout(r, 100));
        }
    }
    /**
     * The holder stops serving (a generation has its sockets): reloaded with its file saying "off" for
     * this start of it, its process finishes what it serves and idles, keeping the namespace.
     */
    async turnHolderOff(holder) {
        await this.files.put(switchFileOf(holder), renderHolderFile({ holderStartedAt: holder.State.StartedAt }));
        await this.holder.kill({ signal: 'SIGUSR2' });
    }
}

;// CONCATENATED MODULE: ./src/proxy/haproxy.ts




















/**
 * One HAProxy container for every app on the host, switched through its runtime API
 * (see haproxy-config.ts). The admin socket is a Unix socket in a host directory, reached over
 * the SSH connection (direct-streamlocal), never over a network. Its jobs live beside it: the
 * container's lifecycle (haproxy-lifecycle.ts), the runtime API and reloads (haproxy-runtime.ts),
 * TLS and ACME (haproxy-tls.ts), the configuration files (haproxy-config.ts, haproxy-files.ts).
 */
class HaproxyRouter {
    docker;
    openTcp;
    settings;
    app;
    log;
    lockProxy;
    capabilities = proxy_capabilities/* HAPROXY_CAPABILITIES */.rZ;
    name;
    files;
    admin;
    proxy;
    tls;
    container;
    /** The app's colors that take no new request and whose requests the proxy holds no more (haproxy-idle.ts). */
    idleColors;
    /** The app's backend file as last read or written. */
    appText;
    constructor(docker, openTcp, openUnixSocket, settings, app, registry, log, 
    /** Takes the host-wide lock of this proxy (held while the container or the shared files change). */
    lockProxy, 
    /** The Docker socket's group (its members may open the admin socket too) and the host's CPUs. */
    hostFacts = async () => ({})) {
        this.docker = docker;
        this.openTcp = openTcp;
        this.settings = settings;
        this.app = app;
        this.log = log;
        this.lockProxy = lockProxy;
        this.name = settings.name;
        const container = (this.container = docker.getContainer(this.name));
        const socketPath = `${hostRunDir(settings.name)}/${HAPROXY_SOCKET}`;
        this.files = new ConfVolume(container);
        const handover = new HaproxyHandover(docker, this.name, this.files, log, this.app);
        this.admin = new HaproxyAdmin(() => handover.liveProcess(), this.name, socketPath, () => openUnixSocket(socketPath), this.files);
        const host = { docker, settings, registry, log, lockProxy, files: this.files, admin: this.admin };
        this.tls = new HaproxyTls({ ...host, container, network: `${settings.name}-net`, app });
        this.proxy = new HaproxyContainer({ ...host, tls: this.tls.settings, hostFacts, handover });
        const idle = new HaproxyIdleColors(this.admin, container, app, !!settings.sticky);
        this.idleColors = () => idle.idleColors();
    }
    async ensure(appNetwork) {
        await this.proxy.ensure(appNetwork);
        // proxy-protocol: the edge's header is expected from the app's trusted-proxies (issue #23).
        const sources = this.settings.proxyProtocol ? (this.settings.tls?.trustedProxies ?? []) : [];
        const edgeHost = { app: this.app, proxyName: this.name, log: this.log, lockProxy: this.lockProxy, files: this.files, admin: this.admin };
        await ensureProxyProtocol(edgeHost, sources);
        await this.tls.ensure();
    }
    /** preview-domains (none: no preview backend). */
    get previewDomains() {
        return this.settings.previewDomains ?? [];
    }
    render(route, token, slots, canary) {
        return renderAppConfig(route, token, slots, canary, this.settings.sticky, this.tls.appTls, this.previewDomains.length > 0);
    }
    async readAppFile() {
        if (this.appText === undefined) {
            // No proxy container, or no file: nothing routed (not kept: the next read may find one).
            const text = await this.files.file(appFile(this.app));
            if (text === undefined)
                return '';
            this.appText = text;
        }
        return this.appText;
    }
    async current() {
        const r = parseRouteComment(this.app, await this.readAppFile());
        return r && { color: r.color, releaseId: r.releaseId };
    }
    /** The release the running process's verify map names (what its switch at run time set), if any. */
    async served() {
        return servedRelease(await this.admin.cli(`show map ${HAPROXY_CONF_DIR}/${verifyMapFile(this.app)}`));
    }
    async apply(route) {
        return this.applyRouting(route);
    }
    /**
     * canary-weight: `canary`'s color serves `weight` % of new requests beside `live` (persisted in the
     * backend file; the route comment and the verify map keep naming the live release).
     */
    async canary(live, canary, weight) {
        return this.applyRouting(live, { route: canary, weight });
    }
    /**
     * promote manual: `live` serves the app's domains alone (the other color in maintenance, so not
     * even a sticky client reaches the preview), the preview domains reach `preview`'s containers.
     */
    async preview(live, preview) {
        return this.applyRouting(live, undefined, preview);
    }
    /**
     * Every read at once, the configuration files in one request (each is a round trip over the
     * SSH connection; a switch is the moment that counts). Under the deploy lock nobody else writes
     * the app's files, so what was read is still there when it is written, and the volume as this run
     * last read it will do (the inspect step read it; every write forgets it): other apps' lines in
     * the shared maps and TLS lists decide nothing here, since only this app's entries are compared,
     * and a change to the shared files re-reads them under the proxy's lock (reloadRouting).
     */
    async readRouting(target) {
        const [text, verifyMap, addresses, backends, maps, missing, tlsFiles, cert] = await Promise.all([
            this.readAppFile(),
            this.files.file(verifyMapFile(this.app)),
            this.addressesOf(target),
            this.admin.cli('show backend'),
            this.files.maps(),
            this.missingMaintenanceFiles(),
            this.files.tlsFiles(),
            this.tls.settings.mode === 'custom' ? this.files.file(certFile(this.app)) : undefined
        ]);
        return { text, verifyMap, addresses, backends, maps, missing, tlsFiles, cert };
    }
    async applyRouting(route, canary, preview) {
        const before = await this.readRouting(canary?.route ?? route);
        const token = (0,external_node_crypto_.randomBytes)(12).toString('hex');
        const slots = Math.max(slotsFor(route, before.text), canary?.route.replicas ?? 1, preview?.replicas ?? 1);
        const text = this.render(route, token, slots, canary);
        // The idle color's addresses for the preview backend (a preview's containers were just created).
        const idleAddresses = this.previewDomains.length ? await this.addressesOf({ ...route, color: (0,core_names/* otherColor */.IP)(route.color), replicas: slots }) : [];
        // In one archive: a restart or a reload of the proxy (by any app) comes up on this route.
        const written = [
            ...before.missing,
            { name: verifyMapFile(this.app), content: renderVerifyMap(token, route.releaseId) },
            { name: appFile(this.app), content: text }
        ];
        // tls custom: the key goes into the proxy's volume only, readable by root only.
        const certText = this.tls.customCertText();
        const certChanged = certText !== undefined && certText !== before.cert;
        let switched = false;
        try {
            if (this.sameShape(before, text) && !certChanged) {
                // The switch at run time first (what clients see), then the files (~150 ms: Docker untars
                // them). Under the proxy's lock, which every reload takes, so no other app's reload comes
                // up on the old files in between. A run that dies in between leaves the new release served
                // on the old files: its pending ledger entry and served() settle that (engine/host-state.ts).
                // The new color (or the canary's) served nothing before (not routed, no canary share): its stale idle connections go.
                const color = (canary?.route ?? route).color;
                const idle = parseRouteComment(this.app, before.text)?.color !== color && parseCanaryComment(before.text)?.color !== color;
                await underLock(this.lockProxy, async () => {
                    await this.switchAtRuntime(route, token, before.addresses, slots, canary, { previewing: preview !== undefined, idleAddresses }, idle);
                    switched = true;
                    await this.files.putMany(written);
                    this.appText = text;
                });
            }
            else {
                await this.files.putMany(written);
                this.appText = text;
                if (certChanged)
                    await this.files.put(certFile(this.app), certText, 0o600);
                await this.reloadRouting(before, canary?.route ?? route, certChanged);
            }
        }
        catch (e) {
            await this.restoreRouting(before, route, slots, switched);
            throw e;
        }
        const { app, files, admin, lockProxy, log } = this;
        await recordRelease({ app, files, admin, lockProxy, log, metricsPublished: this.proxy.metricsPublished }, route);
    }
    /**
     * Whether the running proxy takes the new route at run time: it knows the backend, whose shape
     * (servers declared, sticky, TLS rules) and domains are the same. Otherwise a reload, which
     * drops nothing either.
     */
    sameShape(before, text) {
        const known = parseBackends(before.backends).includes(backendName(this.app));
        const wanted = updateDomainMaps(before.maps, this.app, this.settings.domains, this.previewDomains);
        const tlsSame = JSON.stringify(this.tls.filesWanted(before.tlsFiles)) === JSON.stringify(before.tlsFiles);
        return (known &&
            backendShape(before.text) === backendShape(text) &&
            wanted.domains === before.maps.domains &&
            wanted.wildcards === before.maps.wildcards &&
            tlsSame);
    }
    /** The shared maps and TLS files with this app's entries, then a reload, under the proxy's lock. */
    async reloadRouting(before, target, certChanged) {
        await underLock(this.lockProxy, async () => {
            // Read again under the lock: another app may have changed them since.
            this.files.forget();
            const now = await this.files.maps();
            const taken = mapConflicts(now, this.app, this.settings.domains, this.previewDomains);
            if (taken.length) {
                const [first] = taken;
                throw new ProxyError(`${taken.map(t => t.name).join(', ')} ${taken.length > 1 ? 'are' : 'is'} already routed to app ${first.app} on the proxy ${this.name} ` +
                    `(claimed while this run was checking, or by an app whose release ledger is gone): give ${this.app} other 'domains', or remove them from ${first.app}.`);
            }
            const maps = updateDomainMaps(now, this.app, this.settings.domains, this.previewDomains);
            const tlsNow = await this.files.tlsFiles();
            const tlsNext = this.tls.filesWanted(tlsNow);
            const known = parseBackends(before.backends).includes(backendName(this.app));
            const domains = this.settings.domains.length ? this.settings.domains.join(', ') : 'default for host names no app claims';
            const previews = this.previewDomains.length ? `; preview: ${this.previewDomains.join(', ')}` : '';
            this.log.info(`${known ? 'Routing' : 'Adding'} ${this.app} on the proxy ${this.name} (${domains}${previews}): reloading it`);
            await this.files.put(DOMAINS_MAP, maps.domains);
            await this.files.put(WILDCARDS_MAP, maps.wildcards);
            await this.files.put(CERTS_LIST, tlsNext.certsList);
            await this.files.put(ACME_MAP, tlsNext.acmeMap);
            const restore = [
                { file: DOMAINS_MAP, content: now.domains },
                { file: WILDCARDS_MAP, content: now.wildcards },
                { file: CERTS_LIST, content: tlsNow.certsList },
                { file: ACME_MAP, content: tlsNow.acmeMap },
                ...(certChanged ? [{ file: certFile(this.app), content: before.cert, mode: 0o600 }] : []),
                { file: appFile(this.app), content: before.text || undefined },
                { file: verifyMapFile(this.app), content: before.verifyMap }
            ];
            await this.admin.testAndReload(restore, this.targetAddresses(target, before.addresses));
        });
    }
    /** The target color's servers at the addresses just read from Docker (its containers may be new since the proxy resolved them). */
    targetAddresses(target, addresses) {
        const be = backendName(this.app);
        return new Map(addresses.flatMap((address, i) => (address ? [[`${be}/${serverName(target.color, i + 1)}`, address]] : [])));
    }
    /** The previous routing stays: files back as they were, and the runtime state too. */
    async restoreRouting(before, route, slots, switched) {
        await this.files.put(appFile(this.app), before.text || '# Removed by cutover.\n').catch(() => undefined);
        if (before.verifyMap !== undefined)
            await this.files.put(verifyMapFile(this.app), before.verifyMap).catch(() => undefined);
        if (before.cert !== undefined)
            await this.files.put(certFile(this.app), before.cert, 0o600).catch(() => undefined);
        this.appText = before.text;
        const previous = parseRouteComment(this.app, before.text);
        if (switched && previous) {
            // The previous release's id too: the verify map at run time names what is served (served()).
            const back = {
                ...route,
                color: previous.color,
                releaseId: previous.releaseId,
                replicas: Math.max(1, declaredServers(before.text).enabled[previous.color])
            };
            await this.switchAtRuntime(back, previous.token ?? '', [], slots).catch(() => undefined);
        }
    }
    /** The app's maintenance flag and page as they must exist before its backend file names them. */
    async missingMaintenanceFiles() {
        const files = [
            { name: maintenanceMapFile(this.app), content: renderMaintenanceMap(false) },
            { name: maintenancePageFile(this.app), content: DEFAULT_MAINTENANCE_PAGE }
        ];
        const present = await Promise.all(files.map(f => this.files.file(f.name)));
        return files.filter((_, i) => present[i] === undefined);
    }
    /**
     * mode maintenance (on) / live (off): the app's flag set through the runtime API and in its file;
     * a reload (which drops nothing) only when the page changed or the running backend predates the
     * rule. Confirmed by a request through the proxy.
     */
    async maintenance(on, page) {
        const text = await this.readAppFile();
        const parsed = parseRouteComment(this.app, text);
        const route = routeOfFile(this.app, text, parsed);
        if (!route || !parsed)
            throw new ProxyError(`The proxy ${this.name} has no route for ${this.app}: deploy it first`);
        const mapPath = `${HAPROXY_CONF_DIR}/${maintenanceMapFile(this.app)}`;
        const [beforePage, beforeMap] = await Promise.all([maintenancePageFile(this.app), maintenanceMapFile(this.app)].map(f => this.files.file(f)));
        // mode live keeps the page the proxy has (nothing to reload for a page nobody sees).
        const wantedPage = on ? maintenancePage(page) : (beforePage ?? DEFAULT_MAINTENANCE_PAGE);
        await this.files.put(maintenancePageFile(this.app), wantedPage);
        await this.files.put(maintenanceMapFile(this.app), renderMaintenanceMap(on));
        let reload = beforePage !== wantedPage;
        if (!hasMaintenanceRule(text, this.app)) {
            // Written by a cutover before maintenance existed: the same route with this version's rules.
            const rendered = this.render(route, parsed.token ?? '', declaredServers(text).slots);
            await this.files.put(appFile(this.app), rendered);
            this.appText = rendered;
            reload = true;
        }
        if (!reload && !(await this.admin.cli('show map')).includes(mapPath))
            reload = true;
        if (reload) {
            await underLock(this.lockProxy, async () => {
                this.log.info(`${on ? 'Turning on' : 'Ending'} maintenance of ${this.app} on the proxy ${this.name}: reloading it (its page changed)`);
                await this.admin.testAndReload([
                    { file: appFile(this.app), content: text || undefined },
                    { file: maintenancePageFile(this.app), content: beforePage },
                    { file: maintenanceMapFile(this.app), content: beforeMap }
                ]);
            });
        }
        else {
            await this.admin.run(on ? [`clear map ${mapPath}`, `add map ${mapPath} on 1`] : [`clear map ${mapPath}`], `the maintenance flag of ${this.app}`);
            this.log.info(`${on ? 'Turned on' : 'Ended'} maintenance of ${this.app} on the proxy ${this.name} through its runtime API (no reload)`);
        }
        return confirmMaintenance(this.openTcp, this.settings, on, 10_000, await this.proxy.probeEntry());
    }
    /** watch: the app backend's response counters (`show stat`), the same numbers its log lines would add up to. */
    async responseCounts() {
        const be = backendName(this.app);
        return responseCountsOf(await this.admin.cli(statCommand(be)), be);
    }
    /** canary-steps: the app backend's counters per server (`show stat`), with their response time averages. */
    async serverCounts() {
        const be = backendName(this.app);
        return serverCountsOf(await this.admin.cli(serverStatCommand(be)), be);
    }
    /** canary-steps: the app's requests to the proxy's request ring under `token` (haproxy-request-log.ts). */
    async startRequestLog(token) {
        return startRequestLog(this.admin, this.app, token);
    }
    async stopRequestLog() {
        return stopRequestLog(this.admin, this.app);
    }
    async requestLog(token) {
        return readRequestLog(this.admin, token);
    }
    /** sticky: the color's servers to maintenance, so cookies naming them no longer count (open connections stay). */
    async endDrain(color) {
        const text = await this.readAppFile();
        const routed = parseRouteComment(this.app, text);
        // Never the color the proxy routes to (a run that switched back in the meantime).
        if (!routed || routed.color === color || parseCanaryComment(text)?.color === color)
            return;
        await this.admin.run(endDrainCommands(backendName(this.app), color, declaredServers(text).slots), `to end the drain of ${this.app} ${color}`);
        this.log.info(`Ended the drain of ${this.app} ${color} on the proxy ${this.name}: its sticky clients go to the live color now`);
    }
    /** The addresses of the route's containers on the app's network, by replica (undefined: not found). */
    async addressesOf(route) {
        return (await containerAddresses(this.docker, this.app, route)).map(a => a.wanted);
    }
    async outdated(route) {
        const text = await this.readAppFile();
        const token = parseRouteComment(this.app, text)?.token ?? '';
        // Routes, tokens and server states aside (a switch changes those at run time), the same backend?
        const wantedText = this.render(route, token, slotsFor(route, text));
        if (backendShape(wantedText) !== backendShape(text))
            return true;
        const maps = await this.files.maps();
        const wanted = updateDomainMaps(maps, this.app, this.settings.domains, this.previewDomains);
        if (wanted.domains !== maps.domains || wanted.wildcards !== maps.wildcards)
            return true;
        const tlsFiles = await this.files.tlsFiles();
        if (JSON.stringify(this.tls.filesWanted(tlsFiles)) !== JSON.stringify(tlsFiles))
            return true;
        const wantedCert = this.tls.customCertText();
        return wantedCert !== undefined && wantedCert !== (await this.files.file(certFile(this.app)));
    }
    /** One line on the admin socket: the new color's servers take new requests, the old ones drain. */
    async switchAtRuntime(route, token, addresses, slots, canary, preview = { previewing: false, idleAddresses: [] }, idle = false) {
        const be = backendName(this.app);
        const map = `${HAPROXY_CONF_DIR}/${verifyMapFile(this.app)}`;
        const commands = [
            ...(canary
                ? canaryCommands(be, route, canary, slots, addresses, idle)
                : switchCommands(be, route, slots, addresses, preview.previewing ? 'maint' : 'drain', idle)),
            ...(this.previewDomains.length ? previewCommands(this.app, route.color, slots, route.appPort, preview.idleAddresses) : []),
            `clear map ${map}`,
            ...(token ? [`add map ${map} ${token} ${encodeRelease(route.releaseId)}`] : [])
        ];
        await this.admin.run(commands, `the switch of ${this.app} to ${route.color}`);
        this.log.info(preview.previewing
            ? `Routed ${this.app}'s preview domains to ${(0,core_names/* otherColor */.IP)(route.color)}, its own domains to ${route.color} alone, on the proxy ${this.name} through its runtime API (no reload)`
            : canary
                ? `Sent ${canary.weight} % of ${this.app}'s new requests to ${canary.route.color}, ${100 - canary.weight} % to ${route.color}, on the proxy ${this.name} through its runtime API (no reload)`
                : `Switched ${this.app} to ${route.color} on the proxy ${this.name} through its runtime API (no reload)`);
    }
    /** The app off the shared proxy, gracefully; with `drain`, after its requests in flight (haproxy-withdraw.ts). */
    async withdraw(drain) {
        const { app, name, container, files, admin, lockProxy, log } = this;
        const withdrawn = await withdrawFromHaproxy({ app, name, container, files, admin, lockProxy, log }, drain);
        this.appText = undefined;
        return withdrawn;
    }
    async certificates() {
        return this.tls.certificates();
    }
    async verify(route, path, timeoutMs) {
        const routed = parseRouteComment(this.app, await this.readAppFile());
        // Without the token of the route being verified, the proxy names no release: verification fails.
        const token = routed?.releaseId === route.releaseId ? (routed.token ?? '') : '';
        // A runtime-API switch has no old process; after a reload, ask once more 150 ms later.
        const ask = {
            releaseId: route.releaseId,
            token,
            tokenHeader: VERIFY_HEADER,
            releaseHeader: RELEASE_HEADER,
            decode: decodeRelease,
            confirmAfterMs: this.admin.reloaded ? 150 : 0
        };
        const result = await verifyThroughProxy(this.openTcp, this.settings, ask, path, timeoutMs, await this.proxy.probeEntry());
        if (result.ok)
            await confirmAddresses({ app: this.app, name: this.name, docker: this.docker, admin: this.admin, log: this.log }, route);
        return result;
    }
}

;// CONCATENATED MODULE: ./src/proxy/nginx.ts







const CONF_DIR = '/etc/nginx/conf.d';
/** What a file of an app taken off the proxy holds: nothing nginx loads. */
const nginx_REMOVED = '# Removed by cutover.\n';
const EDGE_PORT_KEY = `${EDGE_PORT}/tcp`;
/** nginx's master sleeps 100 ms between starting new workers and stopping old ones on reload. */
const RELOAD_OVERLAP_MS = 150;
/** The edge and switch nginx containers managed by cutover (see nginx-config.ts for why two). */
class NginxRouter {
    docker;
    openTcp;
    settings;
    app;
    registry;
    log;
    lockProxy;
    capabilities = proxy_capabilities/* NGINX_CAPABILITIES */.Qm;
    edge;
    switch;
    /** The network the edge reaches the switch on. */
    proxyNetwork;
    constructor(docker, openTcp, settings, app, registry, log, 
    /** Takes the host-wide lock of this proxy (held while containers, networks or the edge change). */
    lockProxy) {
        this.docker = docker;
        this.openTcp = openTcp;
        this.settings = settings;
        this.app = app;
        this.registry = registry;
        this.log = log;
        this.lockProxy = lockProxy;
        this.edge = { name: settings.name, role: 'edge' };
        this.switch = { name: `${settings.name}-switch`, role: 'switch' };
        this.proxyNetwork = `${settings.name}-net`;
    }
    container(tier) {
        return this.docker.getContainer(tier.name);
    }
    async ensure(appNetwork) {
        // Nearly every run finds the proxy as it should be: check without the proxy lock first.
        if (!(await this.ready(appNetwork))) {
            // Runs of other apps may create or change the same proxy at the same moment: one at a time.
            await underLock(this.lockProxy, async () => {
                await ensureProxyNetwork(this.docker, this.proxyNetwork);
                // The switch first: the edge's config names it, and nginx resolves names when it loads.
                await this.ensureTier(this.switch, appNetwork);
                await this.ensureTier(this.edge, undefined);
            });
        }
        await putFileIfChanged(this.container(this.switch), COMMON_CONFIG_FILE, SWITCH_COMMON_CONFIG);
    }
    /** Both tiers exist, run, and are on the networks this app needs (the edge's port is checked too). */
    async ready(appNetwork) {
        const [sw, edge] = await Promise.all([inspectIfExists(this.container(this.switch)), inspectIfExists(this.container(this.edge))]);
        if (edge)
            this.checkPorts(edge);
        const on = (info, networks) => !!info && info.State.Running && networks.every(n => !!info.NetworkSettings.Networks[n]);
        return on(sw, [this.proxyNetwork, appNetwork]) && on(edge, [this.proxyNetwork]);
    }
    /**
     * The edge learns an app's domains only once the switch can route them: before that, its
     * requests would find no route (or, worse, another app's).
     */
    async ensureEdgeRoute(restoreTo) {
        const edge = this.container(this.edge);
        const wanted = restoreTo
            ? restoreTo.map(([name, text]) => [name, text ?? '# Removed by cutover.\n'])
            : [
                [COMMON_CONFIG_FILE, edgeCommonConfig(this.switch.name)],
                [appConfigFile(this.app), renderEdgeConfig(this.app, this.settings.domains)]
            ];
        const current = await Promise.all(wanted.map(([name]) => getFile(edge, `${CONF_DIR}/${name}`)));
        if (wanted.every(([, text], i) => current[i] === text))
            return;
        await underLock(this.lockProxy, async () => {
            const before = await Promise.all(wanted.map(([name]) => getFile(edge, `${CONF_DIR}/${name}`)));
            this.edgeAtStart ??= wanted.map(([name], i) => [name, before[i]]);
            let changed = false;
            for (const [name, text] of wanted)
                changed = (await putFileIfChanged(edge, name, text)) || changed;
            if (changed) {
                this.log.info(restoreTo
                    ? `Putting the edge proxy ${this.edge.name}'s routes for ${this.app} back as they were`
                    : `Routing ${this.settings.domains.length ? this.settings.domains.join(', ') : 'the default server'} to ${this.app} on the edge proxy ${this.edge.name}`);
                await this.testAndReload(this.edge, wanted.map(([name], i) => ({ file: name, content: before[i] ?? '# Removed by cutover.\n' })));
            }
        });
    }
    async ensureTier(tier, appNetwork) {
        let info = await inspectIfExists(this.container(tier));
        if (!info)
            info = await this.create(tier);
        if (tier.role === 'edge')
            this.checkPorts(info);
        for (const network of [this.proxyNetwork, appNetwork]) {
            if (network && !info.NetworkSettings.Networks[network])
                await this.docker.getNetwork(network).connect({ Container: info.Id });
        }
        if (!info.State.Running) {
            this.log.info(`Starting the ${tier.role} proxy ${tier.name}`);
            await this.container(tier)
                .start()
                .catch(e => {
                // 304: it was started in the meantime (by Docker's restart policy, say)
                if (e.statusCode !== 304)
                    throw e;
            });
        }
    }
    checkPorts(info) {
        const bindings = info.HostConfig.PortBindings;
        const published = (bindings?.[EDGE_PORT_KEY] ?? []).map(b => Number(b.HostPort));
        if (!published.includes(this.settings.port)) {
            const what = published.length ? `publishes port ${published.join(', ')}` : 'publishes no port';
            throw new ProxyError(`The proxy container ${this.edge.name} already exists and ${what}, not ${this.settings.port} as 'proxy-port' asks. ` +
                `Set proxy-port to match, or remove that container on the host so cutover can create it again (that drops traffic for the apps behind it).`);
        }
    }
    async create(tier) {
        await ensureProxyImage(this.docker, this.settings.image, this.registry, this.log);
        const edge = tier.role === 'edge';
        this.log.info(`Creating the ${tier.role} proxy ${tier.name}${edge ? ` on port ${this.settings.port}` : ''} (${this.settings.image})`);
        // Another app's deploy may create it at the same moment: then theirs is used.
        const info = await createOrAdopt(this.docker, {
            name: tier.name,
            Image: this.settings.image,
            Labels: { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.proxy]: tier.role },
            ExposedPorts: edge ? { [EDGE_PORT_KEY]: {} } : undefined,
            HostConfig: {
                PortBindings: edge ? { [EDGE_PORT_KEY]: [{ HostPort: String(this.settings.port) }] } : undefined,
                // Routes live in a named volume so they survive a re-created proxy container.
                Binds: [`${tier.name}-conf:${CONF_DIR}`],
                RestartPolicy: { Name: 'unless-stopped' },
                NetworkMode: this.proxyNetwork
            }
        });
        // The stock server block of nginx images answers "localhost" with a welcome page;
        // these proxies serve only cutover's routes.
        await putFile(this.container(tier), CONF_DIR, 'default.conf', '# Disabled by cutover: this proxy serves only the routes cutover writes.\n');
        return info;
    }
    /** nginx -t, then SIGHUP: nginx's graceful reload (old workers finish what they hold). */
    async testAndReload(tier, restore = []) {
        const test = await execIn(this.container(tier), ['nginx', '-t']);
        if (test.exitCode !== 0) {
            // Put back what was there so no later reload (of any app), nor a restart, picks up the bad file.
            for (const r of restore)
                await putFile(this.container(tier), CONF_DIR, r.file, r.content);
            throw new ProxyError(`nginx (${tier.name}) refused the new configuration: ${(0,host_text/* sanitizeHostText */.l)((test.stderr || test.stdout).trim(), 600)}`);
        }
        await this.container(tier).kill({ signal: 'HUP' });
    }
    /** The app's route file as last read or written, to put back if nginx refuses a new one. */
    routeText;
    async readRouteFile() {
        if (this.routeText === undefined) {
            if (!(await inspectIfExists(this.container(this.switch))))
                return '';
            this.routeText = (await getFile(this.container(this.switch), `${CONF_DIR}/${appConfigFile(this.app)}`)) ?? '';
        }
        return this.routeText;
    }
    async current() {
        return parseRouteComment(this.app, await this.readRouteFile());
    }
    async legacyRecord() {
        return legacyLedger(this.app, await this.readRouteFile());
    }
    async apply(route) {
        const file = appConfigFile(this.app);
        // Under the deploy lock nobody else writes this file, so what was read is still there.
        const before = await this.readRouteFile();
        this.routedAtStart ??= parseRouteComment(this.app, before)?.releaseId ?? '';
        const text = renderSwitchConfig(route, (0,external_node_crypto_.randomBytes)(12).toString('hex'));
        await putFile(this.container(this.switch), CONF_DIR, file, text);
        await this.migrateSwitchFiles();
        await this.testAndReload(this.switch, [{ file, content: before }]);
        this.routeText = text;
        // Going back to the release routed when this run started puts the edge back as it was too
        // (a verify that failed after a change of domains).
        const reverting = route.releaseId === this.routedAtStart && this.edgeAtStart !== undefined;
        try {
            await this.ensureEdgeRoute(reverting ? this.edgeAtStart : undefined);
        }
        catch (e) {
            // The edge refused: the switch goes back too, so the routing is exactly what it was.
            await putFile(this.container(this.switch), CONF_DIR, file, before);
            await this.container(this.switch).kill({ signal: 'HUP' });
            this.routeText = before;
            throw e;
        }
    }
    /**
     * The app off both tiers: the edge first (its domains or its default server stop reaching the
     * switch), then the switch's route; each is nginx's graceful reload (old workers finish what
     * they hold), every other app's files untouched.
     */
    async withdraw() {
        const file = appConfigFile(this.app);
        let withdrawn = false;
        for (const tier of [this.edge, this.switch]) {
            const info = await inspectIfExists(this.container(tier));
            if (!info)
                continue;
            await underLock(this.lockProxy, async () => {
                const before = await getFile(this.container(tier), `${CONF_DIR}/${file}`);
                if (before === undefined || before === nginx_REMOVED)
                    return;
                this.log.info(`Taking ${this.app} off the ${tier.role} proxy ${tier.name}: reloading it gracefully`);
                await putFile(this.container(tier), CONF_DIR, file, nginx_REMOVED);
                withdrawn = true;
                if (info.State.Running)
                    await this.testAndReload(tier, [{ file, content: before }]);
            });
        }
        this.routeText = undefined;
        return withdrawn;
    }
    /**
     * Other apps' switch files written before containers were resolved per request: rewritten with
     * the same route, so that none of them can keep the switch from loading when its container is
     * gone. Under the proxy's lock; taken up by this run's reload.
     */
    async migrateSwitchFiles() {
        const files = await getDirFiles(this.container(this.switch), CONF_DIR);
        const legacy = [...files].flatMap(([name, text]) => {
            const app = /^cutover-app-(.+)\.conf$/.exec(name)?.[1];
            const migrated = app && app !== this.app ? migratedSwitchConfig(app, text) : undefined;
            return migrated ? [{ name, migrated }] : [];
        });
        if (!legacy.length)
            return;
        await underLock(this.lockProxy, async () => {
            for (const { name, migrated } of legacy)
                await putFile(this.container(this.switch), CONF_DIR, name, migrated);
        });
        this.log.info(`Rewrote ${legacy.length} other app(s)' routes on ${this.switch.name} to resolve containers per request (a missing container no longer stops the switch from loading)`);
    }
    /** The release the switch routed to before this run applied anything ('' for none). */
    routedAtStart;
    /** The edge's files as they were before this run first changed them. */
    edgeAtStart;
    async verify(route, path, timeoutMs) {
        const routed = parseRouteComment(this.app, await this.readRouteFile());
        // Without the token of the route being verified, the switch names no release: verification fails.
        const token = routed?.releaseId === route.releaseId ? (routed.token ?? '') : '';
        // A reloading nginx master lets the old workers accept for another 100 ms after the new ones
        // start: every switch is a reload here.
        const ask = { releaseId: route.releaseId, token, tokenHeader: VERIFY_HEADER, releaseHeader: RELEASE_HEADER, confirmAfterMs: RELOAD_OVERLAP_MS };
        return verifyThroughProxy(this.openTcp, this.settings, ask, path, timeoutMs);
    }
}
/** Writes a config file unless it already holds exactly this; true when it changed. */
async function putFileIfChanged(container, name, content) {
    if ((await getFile(container, `${CONF_DIR}/${name}`)) === content)
        return false;
    await putFile(container, CONF_DIR, name, content);
    return true;
}

;// CONCATENATED MODULE: ./src/proxy/routers.ts




/** Every router by proxy-type: adding a router is one entry here (docs/development.md "Adding a router or a target"). */
const ROUTERS = {
    haproxy: {
        capabilities: proxy_capabilities/* ROUTER_CAPABILITIES */.P4.haproxy,
        create: (settings, app, on) => new HaproxyRouter(on.docker, on.openTcp, path => on.openUnixSocket(path), settings, app, on.registry, on.log, on.lockProxy, () => on.hostFacts())
    },
    nginx: {
        capabilities: proxy_capabilities/* ROUTER_CAPABILITIES */.P4.nginx,
        create: (settings, app, on) => new NginxRouter(on.docker, on.openTcp, settings, app, on.registry, on.log, on.lockProxy)
    },
    caddy: {
        capabilities: proxy_capabilities/* ROUTER_CAPABILITIES */.P4.caddy,
        create: (settings, app, on) => new CaddyRouter(on.docker, on.openTcp, path => on.openUnixSocket(path), settings, app, on.registry, on.log, on.lockProxy, () => on.hostFacts())
    }
};
/** The router of a proxy settled on a host. */
function createRouter(settings, app, on) {
    return ROUTERS[settings.type].create(settings, app, on);
}

// EXTERNAL MODULE: ./src/engine/modes.ts
var modes = __webpack_require__(9066);
;// CONCATENATED MODULE: ./src/proxy/choose.ts




/** The images a proxy of each type runs unless 'proxy-image' says otherwise. */
const DEFAULT_PROXY_IMAGES = {
    haproxy: 'haproxy:3.0-alpine',
    nginx: 'nginx:1.28-alpine',
    caddy: 'caddy:2.6-alpine'
};
/**
 * Which proxy a host already runs under a name, from the label cutover puts on its containers:
 * HAProxy's or Caddy's one container, or nginx's edge (`<name>`) and switch (`<name>-switch`) tiers.
 * undefined: none of them exists (or the container is not cutover's: the router says so).
 */
async function existingProxyType(docker, name) {
    const kindOf = (info) => info?.Config.Labels?.[core_names/* LABEL */.d_.proxy];
    const main = kindOf(await inspectIfExists(docker.getContainer(name)));
    if (main === 'haproxy')
        return 'haproxy';
    if (main === 'caddy')
        return 'caddy';
    if (main === 'edge' || main === 'switch')
        return 'nginx';
    if (main === undefined && kindOf(await inspectIfExists(docker.getContainer(`${name}-switch`))) === 'switch')
        return 'nginx';
    return undefined;
}
/**
 * Settles `proxy-type: auto` (the default): an existing proxy keeps its type, so upgrading cutover
 * never replaces a proxy that serves other apps; a new proxy is HAProxy (one tier, switched without
 * a reload: docs/reliability.md "Why HAProxy"). An explicit type is taken as it is (its router refuses a
 * container of the other type, saying what to do).
 */
async function resolveProxy(docker, inputs) {
    const existing = await existingProxyType(docker, inputs.name);
    const type = inputs.type === 'auto' ? (existing ?? 'haproxy') : inputs.type;
    const image = inputs.image ?? DEFAULT_PROXY_IMAGES[type];
    if (inputs.image && inputs.type === 'auto' && !existing) {
        // Before 0.2 the default type was nginx: a workflow that names an nginx image means that proxy.
        const other = imageKind(inputs.image);
        if (other && other !== type) {
            const an = other === 'caddy' ? 'a' : 'an';
            throw new ProxyError(`Input 'proxy-image' is ${inputs.image}, ${an} ${other} image, but a new proxy is HAProxy by default (proxy-type: auto). ` +
                `Set proxy-type: ${other} to keep ${an} ${other} proxy, or remove proxy-image (or name an HAProxy image).`);
        }
    }
    // proxy-type auto keeping an existing proxy: the proxy's own inputs (tls, sticky, preview-domains)
    // against its router, before anything on the host changes (this is only a read). The whole run
    // is checked by proxyCapabilityProblem once the type is settled.
    const problem = (0,proxy_capabilities/* proxyInputsProblem */.jX)(inputs, type);
    if (problem)
        throw new ProxyError(problem.message);
    return { settings: { ...inputs, type, image, imageGiven: !!inputs.image }, existing };
}
/** An app without a web role (app-port: none) has no proxy: settings for a router that is never called, found without asking the host. */
function noProxy(inputs) {
    return { ...inputs, type: inputs.type === 'nginx' ? 'nginx' : 'haproxy', image: inputs.image ?? DEFAULT_PROXY_IMAGES.haproxy };
}
/** The proxy type an image's repository name says it is, if it says. */
function imageKind(image) {
    const last = (0,image_ref/* parseImageRef */.Q)(image).repository.split('/').pop() ?? '';
    if (/^haproxy/.test(last))
        return 'haproxy';
    if (/^nginx/.test(last))
        return 'nginx';
    if (/^caddy/.test(last))
        return 'caddy';
    return undefined;
}

;// CONCATENATED MODULE: ./src/engine/swarm-ports.ts
/** A task that still counts: Swarm wants it running. */
function isCurrentTask(t) {
    return t.desired === 'running';
}

;// CONCATENATED MODULE: ./src/engine/swarm-remove.ts

/** How often a removal still refused by Swarm (tasks of removed services still stopping) is tried again. */
const RETRY_MS = 1000;
/** Beyond the tasks' stop grace: how long removed services' tasks may take to go from every node. */
const TASKS_SETTLE_MS = 20_000;
/** Once the tasks went: how long the network may still be refused (an endpoint being released). */
const NETWORK_SETTLE_MS = 10_000;
/** The label Docker gives a Swarm task's container: the manager's own tasks are not removed as containers. */
const SWARM_TASK_LABEL = 'com.docker.swarm.task.id';
const SWARM_SERVICE_ID_LABEL = 'com.docker.swarm.service.id';
/**
 * mode remove with target swarm: the app's services (both colors, workers, and its own proxy
 * service: on a swarm each app has one, see docs/several-hosts.md), its Swarm secrets and configs,
 * its overlay network, and its containers on the manager that are no Swarm task (the proxy's switch
 * relay). A shared service stays unless remove-data. Every node prunes its own images.
 */
async function swarmRemoval(ctx, cluster) {
    const { app } = ctx;
    const [services, secrets, configs, relays] = await Promise.all([
        cluster.servicesOf(app),
        cluster.secretsOf(app),
        cluster.configsOf(app),
        managerContainers(ctx)
    ]);
    const running = services.some(s => s.labels[core_names/* LABEL */.d_.role] !== 'proxy' && s.labels[core_names/* LABEL */.d_.role] !== 'shared' && (s.replicas ?? 1) > 0);
    return {
        place: 'the swarm',
        what: `${app}'s services, secrets, configs and network`,
        proxy: 'its proxy tasks',
        found: `${services.length} service(s), ${secrets.length} secret(s), ${configs.length} config(s)`,
        any: services.length + secrets.length + configs.length + relays.length > 0,
        running,
        remove: () => removeFromSwarm(ctx, cluster, services)
    };
}
/** The app's containers on the manager that Swarm does not run as tasks (the switch relay). */
async function managerContainers(ctx) {
    const all = await ctx.host.listApp(ctx.app);
    return all.filter(c => c.labels[core_names/* LABEL */.d_.managed] === 'true' && !c.labels[SWARM_TASK_LABEL]).map(c => c.name);
}
/**
 * Swarm lists no task of a removed service while the task's exited container may stay on the node
 * a while longer; on the manager such a container would make the next run take the app for one
 * whose ledger is gone. Exited, of a service that no longer exists: removed (one still being
 * removed by Docker is left to it).
 */
async function removeLeftoverTasks(ctx, removed) {
    const ids = new Set(removed.map(s => s.id));
    const left = (await ctx.host.listApp(ctx.app)).filter(c => c.labels[SWARM_TASK_LABEL] && ids.has(c.labels[SWARM_SERVICE_ID_LABEL] ?? ''));
    await Promise.all(left.map(c => ctx.host.remove(c.name).catch(e => ctx.log.warning(`Could not remove ${c.name}, a task of a removed service: ${e.message}`))));
}
async function removeFromSwarm(ctx, cluster, services) {
    const { log, config, app } = ctx;
    const kept = services.filter(s => s.labels[core_names/* LABEL */.d_.role] === 'shared' && config.removeData !== true);
    const going = services.filter(s => !kept.includes(s));
    for (const s of kept)
        log.info(`Kept the shared service ${s.name}: remove-data: true removes it too`);
    // Each task gets SIGTERM and its stop grace from Swarm: the drain is over, what is left finishes.
    await Promise.all(going.map(s => cluster.remove(s.name)));
    for (const s of going)
        log.info(s.labels[core_names/* LABEL */.d_.role] === 'proxy'
            ? `Removed the proxy service ${s.name} (on a swarm each app has its own: proxy-port ${config.proxy.port} is free on every node)`
            : `Removed the service ${s.name}`);
    await waitTasksGone(ctx, cluster, going);
    for (const name of await managerContainers(ctx)) {
        await ctx.host.remove(name);
        log.info(`Removed ${name} (on the manager)`);
    }
    await removeLeftoverTasks(ctx, going);
    const secrets = await removeEach(ctx, 'Swarm secret', await cluster.secretsOf(app), id => cluster.removeSecret(id));
    const configs = await removeEach(ctx, 'Swarm config', await cluster.configsOf(app), id => cluster.removeConfig(id));
    const network = await removeOverlay(ctx, cluster);
    return [
        `${going.length} service(s) removed`,
        kept.length ? `${kept.length} shared service(s) kept` : '',
        secrets ? `${secrets} secret(s)` : '',
        configs ? `${configs} config(s)` : '',
        network ? `the network ${(0,core_names/* networkName */.uv)(app)}` : ''
    ]
        .filter(Boolean)
        .join(', ');
}
/** Secrets or configs of the app; one a kept service still mounts stays, with a warning. Returns how many went. */
async function removeEach(ctx, what, objects, remove) {
    const removed = [];
    for (const o of objects) {
        try {
            await remove(o.id);
            removed.push(o.name);
        }
        catch (e) {
            ctx.log.warning(`Kept the ${what} ${o.name}: ${e.message}`);
        }
    }
    if (removed.length)
        ctx.log.info(`Removed ${removed.length} ${what}(s) of ${ctx.app}: ${removed.join(', ')}`);
    return removed.length;
}
/**
 * Until Swarm lists no task of the removed services: their containers stopped and went on every
 * node, so neither they nor their endpoints on the app's network are left (a deploy of the app
 * right after finds nothing of it). Bounded by their stop grace and a margin; then said, not failed.
 */
async function waitTasksGone(ctx, cluster, removed) {
    const { clock, log, config } = ctx;
    if (!removed.length)
        return;
    const started = clock.now();
    const deadline = started + stopGraceMs(config.proxy.drainTimeoutMs) + TASKS_SETTLE_MS;
    for (;;) {
        const left = await cluster.tasksOfRemoved(removed.map(s => s.id));
        if (!left.length) {
            log.info(`The tasks of ${ctx.app}'s services stopped on every node (${clock.now() - started} ms)`);
            return;
        }
        if (clock.now() >= deadline) {
            const nodes = [...new Set(left.map(t => t.node || 'unplaced'))].join(', ');
            log.warning(`${left.length} task(s) of ${ctx.app}'s removed services are still stopping (on ${nodes}): Swarm removes them once they stop`);
            return;
        }
        await clock.sleep(RETRY_MS);
    }
}
/** A task's stop grace: drain-timeout + 5 s, as its service was created with. */
function stopGraceMs(drainTimeoutMs) {
    return drainTimeoutMs + 5000;
}
/**
 * The app's overlay network, once the tasks of its removed services have left it on every node
 * (bounded: their stop grace and a margin). Still in use then: kept, said (a run later removes it).
 */
async function removeOverlay(ctx, cluster) {
    const { clock, log } = ctx;
    const name = (0,core_names/* networkName */.uv)(ctx.app);
    const deadline = clock.now() + NETWORK_SETTLE_MS;
    for (;;) {
        const result = await cluster.removeOverlay(name);
        if (result === 'removed')
            log.info(`Removed the overlay network ${name}`);
        if (result !== 'in-use')
            return result === 'removed';
        if (clock.now() >= deadline) {
            log.warning(`Kept the overlay network ${name}: tasks on it have not stopped on every node yet. Run mode remove again to remove it.`);
            return false;
        }
        await clock.sleep(RETRY_MS);
    }
}

;// CONCATENATED MODULE: ./src/engine/swarm-color-set.ts






/** The label a swarm service records the image digest its tasks run with (every node the same bytes). */
const DIGEST_LABEL = 'cutover.digest';
const swarm_color_set_POLL_MS = 1000;
/** The label naming the env variables a color's service gets as Swarm secrets (a change of the list is a new release). */
const SECRETS_LABEL = 'cutover.swarm-secrets';
/** Where Swarm mounts a service's secrets in its tasks. */
const SECRETS_DIR = '/run/secrets';
const SECRET_NAME_MAX = 64;
/**
 * A release's secret for env variable `name`: `<app>.<release>.<NAME>`, within Swarm's 64
 * characters and its alphabet (a name too long, or ending in _, is shortened by a hash of it).
 */
function secretObjectName(app, instance, name) {
    const full = `${app}.${instance}.${name}`;
    if (full.length <= SECRET_NAME_MAX && /[A-Za-z0-9]$/.test(name))
        return full;
    const tail = `.${instance}.${(0,external_node_crypto_.createHash)('sha256').update(name).digest('hex').slice(0, 8)}`;
    return `${app.slice(0, SECRET_NAME_MAX - tail.length)}${tail}`;
}
/** `<app>-<color>`: one color of the app is one service. */
function serviceName(app, color) {
    return `${app}-${color}`;
}
/** How the gate describes tasks that are not there yet: their states, per node, and Swarm's last error. */
function describeTasks(tasks, wanted) {
    const running = tasks.filter(t => t.state === 'running').length;
    const byNode = new Map();
    for (const t of tasks)
        byNode.set(t.node || 'unplaced', [...(byNode.get(t.node || 'unplaced') ?? []), t.state]);
    const nodes = [...byNode].map(([node, states]) => `${node}: ${states.join(', ')}`).join('; ');
    const failed = tasks.filter(t => t.error).sort((a, b) => (a.since < b.since ? 1 : -1))[0];
    return `${running} of ${wanted} task(s) running${nodes ? ` (${nodes})` : ''}${failed ? `; last task error: ${failed.error}${failed.exitCode !== undefined ? ` (exit code ${failed.exitCode})` : ''}` : ''}`;
}
/**
 * target: swarm (issue #26): one color of the app is a Swarm service `<app>-<color>` (endpoint_mode
 * dnsrr, on the app's overlay network), its workers services `<app>-<color>-worker-<name>`. The
 * pipeline drives it as it drives containers on one host: boot → gate → expose → keep-previous.
 */
class SwarmColorSet {
    ctx;
    cluster;
    proxy;
    settings;
    /** The gate asks the proxy tasks which servers their own checks see up. */
    gateAsksProxy = true;
    /** What boot did to the color's service, so a failed release can put it back. */
    booted;
    workersBooted = [];
    /** The release's secrets (swarm-secrets), created once by boot: what its services mount. */
    secrets;
    constructor(ctx, cluster, proxy, settings) {
        this.ctx = ctx;
        this.cluster = cluster;
        this.proxy = proxy;
        this.settings = settings;
    }
    get app() {
        return this.ctx.app;
    }
    async inspect() {
        return Promise.all(core_names/* COLORS */.lm.map(color => this.inspectColor(color)));
    }
    async inspectColor(color) {
        const service = await this.cluster.service(serviceName(this.app, color));
        if (!service)
            return { color, exists: false, running: false };
        const release = service.labels[core_names/* LABEL */.d_.release];
        const tasks = (await this.cluster.tasks(service.name)).filter(t => isCurrentTask(t) && t.release === release);
        const replicas = service.replicas ?? 0;
        return {
            color,
            exists: true,
            running: replicas > 0 && tasks.filter(t => t.state === 'running').length >= replicas,
            image: service.labels[core_names/* LABEL */.d_.image],
            releaseId: release,
            replicas: Math.max(1, replicas),
            id: service.id,
            imageId: service.labels[DIGEST_LABEL],
            configHash: service.labels[core_names/* LABEL */.d_.configHash]
        };
    }
    async recover() {
        // Nothing is set aside on a swarm: a color's service is updated in place and Swarm keeps its previous spec.
    }
    describe(plan) {
        return `service ${serviceName(this.app, plan.color)} (${plan.replicas} task${plan.replicas > 1 ? 's' : ''})`;
    }
    /** The service of a color for a release: what `docker service create` users expect, plus cutover's labels. */
    webSpec(plan, release) {
        const { config } = this.ctx;
        const labels = {
            [core_names/* LABEL */.d_.managed]: 'true',
            [core_names/* LABEL */.d_.app]: this.app,
            [core_names/* LABEL */.d_.color]: plan.color,
            [core_names/* LABEL */.d_.image]: plan.image,
            [core_names/* LABEL */.d_.release]: release.instance,
            [core_names/* LABEL */.d_.configHash]: release.configHash,
            [core_names/* LABEL */.d_.run]: this.ctx.deps.run,
            // When this release's spec was written: a rebuilt ledger orders the colors by it.
            [core_names/* LABEL */.d_.deployedAt]: this.ctx.nowIso(),
            [core_names/* LABEL */.d_.role]: 'web',
            [SECRETS_LABEL]: this.settings.secrets.join(','),
            ...(release.digest ? { [DIGEST_LABEL]: release.digest } : {})
        };
        const secrets = this.secrets?.instance === release.instance ? this.secrets.refs : [];
        return {
            name: serviceName(this.app, plan.color),
            // By digest when the registry gave one: every node runs the bytes the manager pulled.
            image: release.digest ?? plan.image,
            labels,
            containerLabels: { ...config.container.labels, ...labels },
            env: this.envWithSecrets(),
            ...(secrets.length ? { secrets } : {}),
            command: config.container.command,
            replicas: plan.replicas,
            networks: [(0,core_names/* networkName */.uv)(this.app)],
            constraints: this.settings.constraints,
            memoryBytes: config.container.memoryBytes,
            nanoCpus: config.container.nanoCpus,
            healthcheck: config.container.healthcheck,
            stopGraceSeconds: Math.ceil(config.proxy.drainTimeoutMs / 1000) + 5
        };
    }
    /** The env without the variables given as secrets; `<NAME>_FILE` says where each one's file is. */
    envWithSecrets() {
        const env = { ...this.ctx.config.container.env };
        for (const name of this.settings.secrets) {
            delete env[name];
            env[`${name}_FILE`] = `${SECRETS_DIR}/${name}`;
        }
        return env;
    }
    /** The release's Swarm secrets, one per swarm-secrets variable, created before its services (named per release: a rollback's are its own). */
    async createSecrets(release) {
        if (!this.settings.secrets.length || this.secrets?.instance === release.instance)
            return;
        const env = this.ctx.config.container.env;
        const refs = await Promise.all(this.settings.secrets.map(async (name) => {
            const secret = secretObjectName(this.app, release.instance, name);
            const labels = { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.app]: this.app, [core_names/* LABEL */.d_.release]: release.instance, 'cutover.secret': name };
            return { secretId: await this.cluster.createSecret(secret, env[name], labels), secret, file: name };
        }));
        this.secrets = { instance: release.instance, refs };
        this.ctx.log.info(`Created ${refs.length} Swarm secret(s) of release ${release.instance}: ${this.settings.secrets.join(', ')} (files in ${SECRETS_DIR})`);
    }
    /** Removes the app's secrets that no service (nor the spec a service can roll back to) mounts any more. */
    async pruneSecrets() {
        const [secrets, services] = await Promise.all([this.cluster.secretsOf(this.app), this.cluster.servicesOf(this.app)]);
        const used = new Set(services.flatMap(s => s.secretIds));
        const unused = secrets.filter(s => !used.has(s.id));
        for (const s of unused)
            await this.cluster.removeSecret(s.id).catch(e => this.ctx.log.warning(`Could not remove the unused Swarm secret ${s.name}: ${e.message}`));
        if (unused.length)
            this.ctx.log.info(`Removed ${unused.length} Swarm secret(s) no service of ${this.app} uses: ${unused.map(s => s.name).join(', ')}`);
    }
    async boot(plan, release) {
        const { log } = this.ctx;
        const name = serviceName(this.app, plan.color);
        if (plan.kind === 'reuse-standby') {
            if (plan.mustStart) {
                await this.cluster.scale(name, plan.replicas);
                this.booted = 'scaled';
                log.info(`Scaled the stopped standby ${name} back to ${plan.replicas} task(s)`);
            }
            return;
        }
        await this.createSecrets(release);
        const spec = this.webSpec(plan, release);
        if (await this.cluster.service(name)) {
            await this.cluster.update(spec);
            this.booted = 'updated';
            log.info(`Updated the idle service ${name} to ${plan.image} (${plan.replicas} task(s); Swarm keeps its previous spec until ${plan.color} is live)`);
        }
        else {
            await this.cluster.create(spec);
            this.booted = 'created';
            log.info(`Created the service ${name} from ${plan.image} (${plan.replicas} task(s), endpoint_mode dnsrr, network ${(0,core_names/* networkName */.uv)(this.app)})`);
        }
    }
    /**
     * Every task of the new color's release running (Swarm reports running once a HEALTHCHECK
     * passes) on whichever node, and up in every proxy task's own health checks of the health path,
     * bounded by health-timeout. Tasks Swarm reschedules (a node that went down) are waited for.
     */
    /** Services carry their restart policy from their creation: nothing goes on beside the switch. */
    async gated() { }
    async gate(plan, live) {
        const { config, clock, timeline } = this.ctx;
        const name = serviceName(this.app, plan.color);
        const release = (await this.cluster.service(name))?.labels[core_names/* LABEL */.d_.release];
        const stillLive = live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.';
        const outcome = await timeline.step('healthy', `Waiting for ${this.describe(plan)} to be running and healthy`, async (note) => {
            const deadline = clock.now() + config.health.timeoutMs;
            let why;
            for (;;) {
                this.ctx.checkAborted(live);
                const tasks = (await this.cluster.tasks(name)).filter(t => t.release === release);
                const current = tasks.filter(isCurrentTask);
                const running = current.filter(t => t.state === 'running');
                if (running.length >= plan.replicas) {
                    const addresses = running.flatMap(t => t.addresses);
                    const views = await this.proxy.serversUp(plan.color);
                    const lagging = views.find(v => v.error || addresses.some(a => !v.up.includes(a)));
                    if (!lagging && views.length) {
                        note(`${running.length} task(s) on ${new Set(running.map(t => t.node)).size} node(s), up in ${views.length} proxies`);
                        return { healthy: true };
                    }
                    why = !views.length
                        ? 'no proxy task answers'
                        : `the proxy on ${lagging.proxy} ${lagging.error ? `does not answer (${lagging.error})` : `sees ${lagging.up.length} of ${addresses.length} task(s) healthy at ${config.health.path}`}`;
                }
                else
                    why = describeTasks(current.length ? current : tasks.slice(0, 5), plan.replicas);
                if (clock.now() >= deadline) {
                    note(why);
                    return { healthy: false, why };
                }
                await clock.sleep(swarm_color_set_POLL_MS);
            }
        });
        if (!outcome.healthy) {
            throw new ReleaseError({
                reason: `${name} (${plan.image}) did not become healthy within ${config.health.timeoutMs / 1000} s: ${outcome.why}. ${stillLive}`,
                container: name
            });
        }
    }
    async startWorkers(plan, release, workers, live) {
        if (!workers.length)
            return;
        const roles = this.ctx.config.roles ?? NO_ROLES;
        const stillLive = live ? `${live.color} (${live.image}) is still live.` : 'Nothing was switched.';
        await this.ctx.timeline.step('workers', `Starting ${workers.length} worker service(s) of ${plan.color}`, async () => {
            for (const w of workers) {
                const web = this.webSpec(plan, release);
                const spec = { ...web, name: (0,core_names/* workerName */.ig)(this.app, plan.color, w.name), image: w.image ?? web.image, replicas: 1 };
                spec.command = w.command.length ? w.command : undefined;
                spec.labels = { ...spec.labels, [core_names/* LABEL */.d_.role]: 'worker', [core_names/* LABEL */.d_.worker]: w.name };
                spec.containerLabels = { ...spec.containerLabels, [core_names/* LABEL */.d_.role]: 'worker', [core_names/* LABEL */.d_.worker]: w.name };
                const exists = await this.cluster.service(spec.name);
                await (exists ? this.cluster.update(spec) : this.cluster.create(spec));
                this.workersBooted.push({ name: spec.name, how: exists ? 'updated' : 'created' });
            }
            await Promise.all(this.workersBooted.map(w => this.waitWorker(w.name, release, roles.minUptimeMs, stillLive)));
        });
    }
    /** A worker service's task running (healthy, with a HEALTHCHECK) for at least worker-min-uptime. */
    async waitWorker(name, release, minUptimeMs, stillLive) {
        const { clock, config } = this.ctx;
        const deadline = clock.now() + config.health.timeoutMs + minUptimeMs;
        for (;;) {
            const tasks = (await this.cluster.tasks(name)).filter(t => t.release === release.instance);
            const running = tasks.find(t => isCurrentTask(t) && t.state === 'running');
            if (running && clock.now() - Date.parse(running.since) >= minUptimeMs)
                return;
            if (clock.now() >= deadline)
                throw new ReleaseError({ reason: `The worker service ${name} did not stay running: ${describeTasks(tasks, 1)}. ${stillLive}` });
            await clock.sleep(swarm_color_set_POLL_MS);
        }
    }
    async restore(plan) {
        const { log, config } = this.ctx;
        for (const w of this.workersBooted.splice(0)) {
            await (w.how === 'updated' ? this.cluster.rollback(w.name) : this.cluster.remove(w.name)).catch(e => log.warning(`Could not undo the worker service ${w.name}: ${e.message}`));
        }
        const name = serviceName(this.app, plan.color);
        const booted = this.booted;
        this.booted = undefined;
        try {
            if (booted === 'updated') {
                await this.cluster.rollback(name);
                log.info(`Rolled ${name} back to its previous spec (the standby it was), so the standby is kept`);
            }
            else if (booted === 'created' && config.keepFailed) {
                await this.cluster.scale(name, 0);
                log.info(`Scaled the failed service ${name} to 0 and kept it for inspection (keep-failed)`);
            }
            else if (booted === 'created') {
                await this.cluster.remove(name);
                log.info(`Removed the failed service ${name} (set keep-failed: true to keep it)`);
            }
            else if (booted === 'scaled') {
                await this.cluster.scale(name, 0);
                log.info(`Scaled ${name} to 0 again`);
            }
        }
        catch (e) {
            log.warning(`Could not clean up ${name}: ${e.message}`);
        }
        await this.pruneSecrets().catch(e => log.warning(`Could not remove the failed release's Swarm secrets: ${e.message}`));
    }
    async retireReplaced() {
        // Swarm replaced the idle color's old tasks itself when its service was updated.
    }
    async keepPrevious(before, previousColor) {
        const standby = await this.keepPreviousColor(before, previousColor);
        // After the switch: the secrets of the release the idle color ran before this one (or of a removed standby) go.
        await this.pruneSecrets().catch(e => this.ctx.log.warning(`Could not remove unused Swarm secrets: ${e.message}`));
        return standby;
    }
    async keepPreviousColor(before, previousColor) {
        const { config, log, clock } = this.ctx;
        if (!before)
            return undefined;
        const name = serviceName(this.app, previousColor);
        const standby = { color: before.color, image: before.image, state: 'running' };
        if (config.keepPrevious === 'running') {
            log.info(`${name} keeps its tasks as the standby for an instant rollback.`);
            return standby;
        }
        log.info(`Draining ${name} for ${config.proxy.drainTimeoutMs / 1000} s (drain-timeout) before it is ${config.keepPrevious}`);
        await clock.sleep(config.proxy.drainTimeoutMs);
        if (config.keepPrevious === 'stopped') {
            await this.cluster.scale(name, 0);
            standby.state = 'stopped';
        }
        else {
            await this.cluster.remove(name);
            standby.state = 'removed';
        }
        return standby;
    }
    async retireWorkers(previous, liveColor) {
        if (!previous || previous === liveColor)
            return;
        const services = await this.cluster.servicesOf(this.app);
        for (const s of services.filter(s => s.labels[core_names/* LABEL */.d_.role] === 'worker' && s.labels[core_names/* LABEL */.d_.color] === previous)) {
            await this.cluster.remove(s.name);
            this.ctx.log.info(`Removed the previous worker service ${s.name}`);
        }
    }
    async discard(release) {
        const name = serviceName(this.app, release.color);
        const service = await this.cluster.service(name);
        if (service?.labels[core_names/* LABEL */.d_.release] !== release.instance)
            return 0;
        await this.cluster.remove(name);
        return service.replicas ?? 0;
    }
    async workerStates(color) {
        const services = (await this.cluster.servicesOf(this.app)).filter(s => s.labels[core_names/* LABEL */.d_.role] === 'worker' && s.labels[core_names/* LABEL */.d_.color] === color);
        return Promise.all(services.map(async (s) => {
            const tasks = (await this.cluster.tasks(s.name)).filter(isCurrentTask);
            return {
                name: s.labels[core_names/* LABEL */.d_.worker] ?? s.name,
                container: s.name,
                state: tasks.find(t => t.state === 'running') ? 'running' : (tasks[0]?.state ?? 'none')
            };
        }));
    }
    async isCurrent(live, state, image, hash, replicas) {
        const roles = this.ctx.config.roles ?? NO_ROLES;
        if (roles.workers.length)
            return false;
        const sameImage = !!image.digest && state?.imageId === image.digest;
        const sameSecrets = ((await this.cluster.service(serviceName(this.app, live.color)))?.labels[SECRETS_LABEL] ?? '') === this.settings.secrets.join(',');
        return sameSecrets && !!state?.running && sameImage && state.configHash === hash && (live.replicas ?? 1) === replicas && (state.replicas ?? 1) === replicas;
    }
    /** mode status: the app's services, their tasks per node, and drift from the live release. */
    async clusterState(live) {
        const services = await this.cluster.servicesOf(this.app);
        const lines = [];
        const drift = [];
        for (const s of services.sort((a, b) => a.name.localeCompare(b.name))) {
            const tasks = (await this.cluster.tasks(s.name)).filter(isCurrentTask);
            const perNode = new Map();
            for (const t of tasks)
                perNode.set(t.node || 'unplaced', [...(perNode.get(t.node || 'unplaced') ?? []), t.state]);
            const where = [...perNode].map(([node, states]) => `${node} ${states.join('/')}`).join(', ');
            const size = s.replicas === undefined ? 'global' : `${s.replicas} replica(s)`;
            lines.push(`service ${s.name}: ${s.labels[core_names/* LABEL */.d_.image] ?? s.image}, ${size}; tasks: ${where || 'none'}`);
            const running = tasks.filter(t => t.state === 'running').length;
            if (s.name === serviceName(this.app, live.color)) {
                if (s.labels[core_names/* LABEL */.d_.release] !== live.instance)
                    drift.push(`${s.name} runs release ${s.labels[core_names/* LABEL */.d_.release]}, the ledger records ${live.instance} as live`);
                if (running < (live.replicas ?? 1))
                    drift.push(`${s.name} has ${running} of ${live.replicas ?? 1} task(s) running`);
            }
        }
        if (!services.some(s => s.name === serviceName(this.app, live.color)))
            drift.push(`the live color's service ${serviceName(this.app, live.color)} does not exist`);
        return { lines, drift };
    }
    /** mode remove: the app's services, secrets, configs and network (swarm-remove.ts). */
    removal() {
        return swarmRemoval(this.ctx, this.cluster);
    }
    async pullWorkerImages() {
        // Every node pulls what its tasks run.
    }
    async prune() {
        // Images live on every node; Swarm's nodes keep or prune their own.
    }
}

;// CONCATENATED MODULE: ./src/host/swarm-cluster.ts




function toService(raw) {
    return {
        id: raw.ID,
        name: raw.Spec.Name,
        labels: raw.Spec.Labels ?? {},
        image: raw.Spec.TaskTemplate.ContainerSpec.Image,
        replicas: raw.Spec.Mode.Replicated ? (raw.Spec.Mode.Replicated.Replicas ?? 1) : undefined,
        hasPreviousSpec: !!raw.PreviousSpec,
        secretIds: (raw.Spec.TaskTemplate.ContainerSpec.Secrets ?? []).map(s => s.SecretID)
    };
}
/** A task as the engine sees it; `addr`: node id -> its address. */
function toTask(t, service, addr) {
    return {
        id: t.ID,
        service,
        node: (t.NodeID && addr.get(t.NodeID)) || '',
        nodeId: t.NodeID ?? '',
        desired: t.DesiredState,
        state: t.Status.State,
        ...(t.Status.Err ? { error: t.Status.Err } : {}),
        addresses: (t.NetworksAttachments ?? []).flatMap(a => a.Addresses ?? []).map(a => a.replace(/\/\d+$/, '')),
        ...(t.Status.ContainerStatus?.ExitCode ? { exitCode: t.Status.ContainerStatus.ExitCode } : {}),
        since: t.Status.Timestamp,
        ...(t.Status.ContainerStatus?.ContainerID ? { containerId: t.Status.ContainerStatus.ContainerID } : {}),
        ...(t.Spec.ContainerSpec?.Labels?.[core_names/* LABEL */.d_.release] ? { release: t.Spec.ContainerSpec.Labels[core_names/* LABEL */.d_.release] } : {})
    };
}
/** The Docker API's service spec for cutover's ServiceSpec (dnsrr, host-mode ports only: no VIP, no routing mesh). */
function toDockerSpec(spec) {
    return {
        Name: spec.name,
        Labels: spec.labels,
        TaskTemplate: {
            ContainerSpec: {
                Image: spec.image,
                Labels: spec.containerLabels,
                Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
                ...(spec.command ? { Args: spec.command } : {}),
                ...(spec.stopGraceSeconds !== undefined ? { StopGracePeriod: spec.stopGraceSeconds * 1e9 } : {}),
                ...(spec.healthcheck
                    ? {
                        Healthcheck: {
                            Test: spec.healthcheck.test,
                            Interval: spec.healthcheck.intervalNs,
                            Timeout: spec.healthcheck.timeoutNs,
                            StartPeriod: spec.healthcheck.startPeriodNs,
                            Retries: spec.healthcheck.retries
                        }
                    }
                    : {}),
                ...(spec.files?.length
                    ? { Configs: spec.files.map(f => ({ ConfigID: f.configId, ConfigName: f.config, File: { Name: f.path, UID: '0', GID: '0', Mode: 0o444 } })) }
                    : {}),
                ...(spec.secrets?.length
                    ? { Secrets: spec.secrets.map(s => ({ SecretID: s.secretId, SecretName: s.secret, File: { Name: s.file, UID: '0', GID: '0', Mode: 0o444 } })) }
                    : {})
            },
            Resources: { Limits: { ...(spec.memoryBytes ? { MemoryBytes: spec.memoryBytes } : {}), ...(spec.nanoCpus ? { NanoCPUs: spec.nanoCpus } : {}) } },
            RestartPolicy: { Condition: 'any', Delay: 1e9 },
            Placement: { Constraints: spec.constraints },
            Networks: spec.networks.map(Target => ({ Target }))
        },
        Mode: spec.replicas === undefined ? { Global: {} } : { Replicated: { Replicas: spec.replicas } },
        // One update replaces every task at once: the color is idle (not routed) while it changes.
        UpdateConfig: { Parallelism: 0, Order: 'stop-first', FailureAction: 'pause' },
        RollbackConfig: { Parallelism: 0, Order: 'stop-first' },
        EndpointSpec: {
            Mode: 'dnsrr',
            Ports: (spec.ports ?? []).map(p => ({ Protocol: 'tcp', TargetPort: p.target, PublishedPort: p.published, PublishMode: 'host' }))
        }
    };
}
/** The engine's SwarmCluster over the manager's Docker API (dockerode, through the SSH tunnel). */
class DockerSwarmCluster {
    docker;
    registry;
    constructor(docker, registry) {
        this.docker = docker;
        this.registry = registry;
    }
    auth(image) {
        return (0,image_ref/* credentialsFor */.Og)(image, this.registry);
    }
    async raw(name) {
        try {
            return (await this.docker.getService(name).inspect());
        }
        catch (e) {
            if (isNotFound(e))
                return undefined;
            throw e;
        }
    }
    async service(name) {
        const raw = await this.raw(name);
        return raw && toService(raw);
    }
    async servicesOf(app) {
        const list = (await this.docker.listServices({ filters: { label: [`${core_names/* LABEL */.d_.app}=${app}`] } }));
        return list.map(toService);
    }
    async create(spec) {
        await this.docker.createService(this.auth(spec.image), toDockerSpec(spec));
    }
    async update(spec) {
        const raw = await this.raw(spec.name);
        if (!raw)
            return this.create(spec);
        await this.send(raw.ID, { ...toDockerSpec(spec), _query: { version: raw.Version.Index } }, spec.image);
    }
    /** A service update, with the image's registry credentials passed on to the nodes. */
    async send(id, body, image) {
        const auth = this.auth(image);
        // dockerode sends `authconfig` as the X-Registry-Auth header, and only `_query` in the URL (not the spec, env included).
        await this.docker.getService(id).update({ ...body, ...(auth ? { authconfig: auth } : {}) });
    }
    async rollback(name) {
        const raw = await this.raw(name);
        if (!raw?.PreviousSpec)
            return;
        const previous = raw.PreviousSpec;
        await this.send(raw.ID, { ...previous, _query: { version: raw.Version.Index } }, previous.TaskTemplate.ContainerSpec.Image);
    }
    async scale(name, replicas) {
        const raw = await this.raw(name);
        if (!raw)
            return;
        const spec = raw.Spec;
        await this.send(raw.ID, { ...spec, Mode: { Replicated: { Replicas: replicas } }, _query: { version: raw.Version.Index } }, raw.Spec.TaskTemplate.ContainerSpec.Image);
    }
    async remove(name) {
        try {
            await this.docker.getService(name).remove();
        }
        catch (e) {
            if (!isNotFound(e))
                throw e;
        }
    }
    async tasks(service) {
        const [tasks, nodes] = await Promise.all([this.docker.listTasks({ filters: { service: [service] } }), this.nodes()]);
        const addr = new Map(nodes.map(n => [n.id, n.addr]));
        // (a service filter also matches names it prefixes: keep this service's own)
        const id = (await this.raw(service))?.ID;
        return tasks.filter(t => t.ServiceID === id).map(t => toTask(t, service, addr));
    }
    async tasksOfRemoved(serviceIds) {
        // A removed service's name resolves no more: every task, by its service's id.
        const [tasks, nodes] = await Promise.all([this.docker.listTasks(), this.nodes()]);
        const addr = new Map(nodes.map(n => [n.id, n.addr]));
        return tasks.filter(t => serviceIds.includes(t.ServiceID)).map(t => toTask(t, t.ServiceID, addr));
    }
    async nodes() {
        const raw = (await this.docker.listNodes());
        return raw.map(n => ({
            id: n.ID,
            addr: n.Status.Addr,
            state: n.Status.State,
            availability: n.Spec.Availability,
            role: n.Spec.Role,
            labels: n.Spec.Labels ?? {}
        }));
    }
    async ensureOverlay(name, labels) {
        try {
            await this.docker.getNetwork(name).inspect();
        }
        catch (e) {
            if (!isNotFound(e))
                throw e;
            try {
                await this.docker.createNetwork({ Name: name, Driver: 'overlay', Attachable: true, CheckDuplicate: true, Labels: labels });
            }
            catch (err) {
                if (!isConflict(err))
                    throw err;
            }
        }
    }
    async setServiceLabels(name, labels) {
        // The spec as it is with only its labels changed; sent without registry credentials, so the
        // manager resolves nothing again and the task template (hence every running task) stays as it is.
        for (let attempt = 1;; attempt++) {
            const raw = await this.raw(name);
            if (!raw)
                throw new Error(`the service ${name} does not exist`);
            const spec = { ...raw.Spec, Labels: { ...raw.Spec.Labels, ...labels } };
            try {
                await this.docker.getService(raw.ID).update({ ...spec, _query: { version: raw.Version.Index } });
                return;
            }
            catch (e) {
                // Another update between our read and write (Swarm's own, or a concurrent run's): read again.
                if (attempt >= 3 || !/out of sequence/i.test(e.message))
                    throw e;
            }
        }
    }
    async createSecret(name, content, labels) {
        // The content goes in the request body only (base64, as the API wants it): never a file, never the log.
        try {
            const created = (await this.docker.createSecret({ Name: name, Labels: labels, Data: Buffer.from(content).toString('base64') }));
            const id = created.id ?? created.ID;
            if (id)
                return id;
        }
        catch (e) {
            if (!isConflict(e))
                throw e;
        }
        const found = (await this.secretsOf(labels[core_names/* LABEL */.d_.app] ?? '')).find(s => s.name === name);
        if (!found)
            throw new Error(`the secret ${name} was created but is not listed`);
        return found.id;
    }
    async secretsOf(app) {
        const list = (await this.docker.listSecrets({ filters: { label: [`${core_names/* LABEL */.d_.app}=${app}`] } }));
        return list.map(s => ({ id: s.ID, name: s.Spec?.Name ?? '', labels: s.Spec?.Labels ?? {} }));
    }
    async removeSecret(id) {
        try {
            await this.docker.getSecret(id).remove();
        }
        catch (e) {
            if (!isNotFound(e))
                throw e;
        }
    }
    async configsOf(app) {
        const list = (await this.docker.listConfigs({ filters: { label: [`${core_names/* LABEL */.d_.app}=${app}`] } }));
        return list.map(c => ({ id: c.ID, name: c.Spec?.Name ?? '' }));
    }
    async removeConfig(id) {
        try {
            await this.docker.getConfig(id).remove();
        }
        catch (e) {
            if (!isNotFound(e))
                throw e;
        }
    }
    async removeOverlay(name) {
        try {
            await this.docker.getNetwork(name).remove();
            return 'removed';
        }
        catch (e) {
            if (isNotFound(e))
                return 'gone';
            // "has active endpoints", "is in use by task": a task of a removed service is still stopping on some node.
            if (isConflict(e) || e.statusCode === 403 || /active endpoints|in use/i.test(e.message))
                return 'in-use';
            throw e;
        }
    }
    async ensureConfig(name, content, labels, templated = false) {
        const find = async () => (await this.docker.listConfigs({ filters: { name: [name] } })).find(c => c.Spec?.Name === name)?.ID;
        const existing = await find();
        if (existing)
            return existing;
        try {
            const created = (await this.docker.createConfig({
                Name: name,
                Labels: labels,
                Data: Buffer.from(content).toString('base64'),
                ...(templated ? { Templating: { Name: 'golang' } } : {})
            }));
            const id = created.ID ?? created.id ?? (await find());
            if (!id)
                throw new Error(`the config ${name} was created but is not listed`);
            return id;
        }
        catch (e) {
            if (!isConflict(e))
                throw e;
            const id = await find();
            if (!id)
                throw e;
            return id;
        }
    }
}
/** The manager's Docker as the pipeline's ContainerHost: the app's network is an attachable overlay. */
class SwarmManagerHost extends DockerHost {
    cluster;
    constructor(docker, openTcp, registry, cluster) {
        super(docker, openTcp, registry);
        this.cluster = cluster;
    }
    ensureNetwork(name, labels) {
        return this.cluster.ensureOverlay(name, labels);
    }
    /** The app's services: the manager's own containers are only the tasks placed on it. */
    async listAppUnits(app) {
        return (await this.cluster.servicesOf(app)).map(s => ({
            name: s.name,
            state: s.replicas === 0 ? 'scaled to 0' : 'running',
            status: s.replicas === undefined ? 'global' : `${s.replicas} replica${s.replicas === 1 ? '' : 's'}`,
            image: s.labels[core_names/* LABEL */.d_.image] ?? s.image,
            labels: s.labels,
            service: { replicas: s.replicas }
        }));
    }
}

;// CONCATENATED MODULE: ./src/proxy/swarm-proxy-config.ts


/**
 * target: swarm (issue #26): the files of the app's proxy service, HAProxy on every node. Both
 * colors' backends always exist and find their tasks through Swarm's DNS (`tasks.<app>-<color>`,
 * resolved at run time by Docker's embedded DNS, 127.0.0.11); which one takes the app's requests is
 * one entry of a map that the switch changes through each task's runtime API, with no reload.
 */
const SWARM_CONF_DIR = '/usr/local/etc/haproxy';
const SWARM_ROUTE_MAP = `${SWARM_CONF_DIR}/route.map`;
const SWARM_VERIFY_MAP = `${SWARM_CONF_DIR}/verify.map`;
/** The runtime API of each proxy task, on its container networks only (not published on the node). */
const SWARM_ADMIN_PORT = 9999;
/** The port the proxy listens on inside its task (above 1024: official HAProxy images do not run as root); published in host mode as proxy-port on each node. */
const SWARM_PROXY_PORT = 8080;
/** Servers declared per color: more than the largest replicas, so a task Swarm reschedules finds a slot. */
const SWARM_SLOTS = 12;
const ROUTE_KEY = 'app';
const NO_ROUTE_BACKEND = 'be_none';
function colorBackend(color) {
    return `be_${color}`;
}
/** The proxy's service, `<app>-proxy`, and the container on the manager that reaches its tasks' runtime API. */
function proxyServiceName(app) {
    return `${app}-proxy`;
}
function switchboardName(app) {
    return `${app}-proxy-switch`;
}
/** The health check each proxy task runs against every task of both colors. */
function healthCheck(health) {
    const expect = health.expectedStatus ? `status ${health.expectedStatus}` : 'rstatus ^2';
    return `  option httpchk
  http-check send meth GET uri ${health.path} ver HTTP/1.1 hdr Host cutover-health
  http-check expect ${expect}`;
}
function renderSwarmProxyConfig(app, health) {
    const inter = Math.max(250, Math.min(health.intervalMs, 2000));
    const backends = core_names/* COLORS */.lm.map(color => `backend ${colorBackend(color)}
${healthCheck(health)}
  # Only cutover's verification, holding the token of the verify map, learns which release answered.
  http-response del-header x-cutover-release
  http-response set-header X-Cutover-Release %[var(txn.cutover_verify),map(${SWARM_VERIFY_MAP})] if { var(txn.cutover_verify),map(${SWARM_VERIFY_MAP}) -m found }
  # A task whose connection fails is out of the rotation at once (until its next check passes), so a
  # request's retries go to other tasks instead of back to it while the checks still count.
  server-template task ${SWARM_SLOTS} tasks.${app}-${color}:${health.port} resolvers swarm init-addr none check inter ${inter} fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down
`).join('\n');
    return `# Managed by cutover (target: swarm): the proxy of ${app}. Do not edit, deploys replace it.
global
  # The runtime API: on the task's container networks (the app's overlay), never published on a node.
  stats socket ipv4@0.0.0.0:${SWARM_ADMIN_PORT} level admin
  stats timeout 10s

defaults
  mode http
  option idle-close-on-response
  # A task on a node that went down does not refuse connections, it drops them: a request whose
  # connection fails is sent to another task of the color instead (before any answer began).
  timeout connect 2s
  retries 2
  option redispatch 1
  retry-on conn-failure empty-response
  timeout client 65s
  timeout http-keep-alive 65s
  timeout http-request 30s
  timeout server 1h
  timeout tunnel 1h
  timeout client-fin 5s
  default-server pool-purge-delay 1s

# Tasks by Swarm's DNS, at run time only: a color without tasks is servers in maintenance, never a proxy that cannot start.
resolvers swarm
  nameserver dns 127.0.0.11:53
  hold valid 1s
  hold nx 1s
  hold obsolete 1s
  timeout resolve 1s
  timeout retry 1s

frontend cutover
  bind :${SWARM_PROXY_PORT}
  http-request set-var(txn.cutover_verify) req.hdr(x-cutover-verify)
  http-request del-header x-cutover-verify
  use_backend %[str(${ROUTE_KEY}),map(${SWARM_ROUTE_MAP},${NO_ROUTE_BACKEND})]

backend ${NO_ROUTE_BACKEND}
  http-request return status 503 content-type text/plain string "no release of ${app} is live"

${backends}`;
}
/**
 * The live route lives on as two labels of the proxy service, set after every switch: Swarm does not
 * restart tasks for a service label, and renders them into the route and verify maps (templated
 * configs) of every proxy task it starts later (a crash, a node back, a new node), so a new task
 * comes up routing to the live color instead of to no release.
 */
const LIVE_ROUTE_LABEL = 'cutover.live-route';
const LIVE_VERIFY_LABEL = 'cutover.live-verify';
/** The labels that carry a switch: the live color's backend, and the verify map's `<token> <release>`. */
function liveLabels(color, token, encodedRelease) {
    return { [LIVE_ROUTE_LABEL]: colorBackend(color), [LIVE_VERIFY_LABEL]: `${token} ${encodedRelease}` };
}
/** The route map as Swarm renders it for a starting task (Go template): the live route, or none before the first switch. */
function routeMapTemplate() {
    return `{{ with index .Service.Labels "${LIVE_ROUTE_LABEL}" }}${ROUTE_KEY} {{ . }}{{ else }}${ROUTE_KEY} ${NO_ROUTE_BACKEND}{{ end }}\n`;
}
/** The verify map as Swarm renders it for a starting task: the live release's token, if any. */
function verifyMapTemplate() {
    return `# the verify token of the live release (set by each switch)\n{{ with index .Service.Labels "${LIVE_VERIFY_LABEL}" }}{{ . }}\n{{ end }}`;
}
/** A config object's name for a file's content (configs are immutable: a new content is a new object). */
function configObjectName(app, file, content) {
    return `${app}-proxy-${file}-${(0,external_node_crypto_.createHash)('sha256').update(content).digest('hex').slice(0, 12)}`;
}
/** The switchboard's own HAProxy: one TCP listener per proxy task, relaying to that task's runtime API. */
function renderSwitchboardConfig(targets) {
    const listeners = targets.map((address, i) => `listen task${i}\n  bind :${10000 + i}\n  server proxy ${address}:${SWARM_ADMIN_PORT}\n`).join('\n');
    return `# Managed by cutover (target: swarm): relays to each proxy task's runtime API.
global
defaults
  mode tcp
  timeout connect 3s
  timeout client 30s
  timeout server 30s

${listeners}`;
}
function parseServersState(answer) {
    const lines = answer.split('\n').map(l => l.trim());
    const header = lines
        .find(l => l.startsWith('# '))
        ?.slice(2)
        .split(/\s+/);
    if (!header)
        return [];
    const col = (name) => header.indexOf(name);
    return lines
        .filter(l => l && !l.startsWith('#') && /\s/.test(l))
        .map(l => l.split(/\s+/))
        .map(f => ({
        name: f[col('srv_name')],
        address: f[col('srv_addr')],
        opState: Number(f[col('srv_op_state')]),
        checkResult: Number(f[col('srv_check_result')])
    }));
}
/** The addresses a proxy sees up and passing its health check. */
function upAddresses(states) {
    return states.filter(s => s.opState === 2 && s.checkResult === 3 && s.address !== '0.0.0.0' && s.address !== '-').map(s => s.address);
}
/** The value a `show map` answer holds for `key` (lines `<ref> <key> <value>`). */
function mapValue(answer, key) {
    for (const line of answer.split('\n')) {
        const [, k, v] = line.trim().split(/\s+/);
        if (k === key && v !== undefined)
            return v;
    }
    return undefined;
}
/** Which color a route map entry names. */
function colorOfBackend(backend) {
    return core_names/* COLORS */.lm.find(c => colorBackend(c) === backend);
}
/** The runtime API line that switches one proxy task: the verify token first, then the route. */
function switchLine(color, token, encodedRelease) {
    return `clear map ${SWARM_VERIFY_MAP};add map ${SWARM_VERIFY_MAP} ${token} ${encodedRelease};set map ${SWARM_ROUTE_MAP} ${ROUTE_KEY} ${colorBackend(color)}`;
}
/** The runtime API line that takes the app off one proxy task: no verify token, the route to no release (503). */
function unrouteLine() {
    return `clear map ${SWARM_VERIFY_MAP};set map ${SWARM_ROUTE_MAP} ${ROUTE_KEY} ${NO_ROUTE_BACKEND}`;
}
/** The backends whose sessions are the app's requests in flight on a proxy task. */
const COLOR_BACKENDS = core_names/* COLORS */.lm.map(colorBackend);

;// CONCATENATED MODULE: ./src/proxy/swarm-proxy.ts










const TARGETS_LABEL = 'cutover.switch-targets';
/** The proxy service's label naming the config objects it runs with (a new version's files update it). */
const CONFIG_LABEL = 'cutover.proxy-config';
const RUNTIME_TIMEOUT_MS = 5000;
const PROXY_START_TIMEOUT_MS = 90_000;
/**
 * target: swarm's router (issue #26): HAProxy as the service `<app>-proxy`, one task per node (or per
 * node with swarm-proxy-label), publishing proxy-port in host mode, so no routing mesh is in the path.
 * The switch reaches every task's runtime API at once through the switchboard: a small HAProxy
 * container on the manager, on the app's overlay network, relaying one port per proxy task. The
 * runtime API stays on the overlay (never published on a node) and the run keeps its one SSH
 * connection, to the manager: no SSH to the other nodes, no exec, no proxy reload.
 */
class SwarmProxy {
    deps;
    capabilities = proxy_capabilities/* SWARM_CAPABILITIES */.Eg;
    switchboard;
    /** The spread between the first and the last proxy task switched by the last apply, in ms. */
    lastSpreadMs;
    constructor(deps) {
        this.deps = deps;
    }
    get service() {
        return proxyServiceName(this.deps.app);
    }
    /** The proxy service exists with this version's files, and its tasks run; the switchboard reaches them all. */
    async ensure(appNetwork) {
        const { cluster, app, proxy, health, swarm, log } = this.deps;
        const labels = { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.app]: app, [core_names/* LABEL */.d_.role]: 'proxy' };
        const files = [
            { name: 'cfg', content: renderSwarmProxyConfig(app, health), path: `${SWARM_CONF_DIR}/haproxy.cfg`, templated: false },
            { name: 'route', content: routeMapTemplate(), path: SWARM_ROUTE_MAP, templated: true },
            { name: 'verify', content: verifyMapTemplate(), path: SWARM_VERIFY_MAP, templated: true }
        ].map(f => ({ ...f, config: configObjectName(app, f.name, f.content) }));
        const ids = await Promise.all(files.map(f => cluster.ensureConfig(f.config, f.content, labels, f.templated)));
        const configs = files.map(f => f.config).join(',');
        const existing = await cluster.service(this.service);
        const spec = {
            name: this.service,
            image: proxy.image,
            labels: { ...labels, [CONFIG_LABEL]: configs, ...(existing ? await this.liveLabelsOf(existing.labels) : {}) },
            containerLabels: labels,
            env: {},
            networks: [appNetwork],
            constraints: swarm.proxyLabel ? [`node.labels.${swarm.proxyLabel}==true`] : [],
            ports: [{ target: SWARM_PROXY_PORT, published: proxy.port }],
            files: files.map((f, i) => ({ configId: ids[i], config: f.config, path: f.path })),
            stopGraceSeconds: Math.ceil(proxy.drainTimeoutMs / 1000) + 5
        };
        if (!existing) {
            await cluster.create(spec);
            log.info(`Created the proxy service ${this.service} (${proxy.image}) on ${swarm.proxyLabel ? `nodes labelled ${swarm.proxyLabel}` : 'every node'}, port ${proxy.port} published in host mode`);
        }
        else if (existing.labels[CONFIG_LABEL] !== configs) {
            // A new version's proxy files: Swarm restarts the proxy tasks one node at a time, each with the live route.
            await cluster.update(spec);
            log.warning(`Updated the proxy service ${this.service} to this version's configuration: its tasks restart node by node`);
        }
        await this.waitProxies();
        await this.connectSwitchboard(appNetwork);
    }
    /**
     * The live route the service's labels carry; a service from a version before them (no labels yet)
     * gets the route its running tasks hold, so the tasks an update restarts come up routed.
     */
    async liveLabelsOf(labels) {
        if (labels[LIVE_ROUTE_LABEL])
            return { [LIVE_ROUTE_LABEL]: labels[LIVE_ROUTE_LABEL], [LIVE_VERIFY_LABEL]: labels[LIVE_VERIFY_LABEL] ?? '' };
        // (proxies that do not answer leave it to the next switch, as before the labels)
        const answers = await this.everyProxy(`show map ${SWARM_ROUTE_MAP};show map ${SWARM_VERIFY_MAP}`).catch(() => []);
        for (const { answer = '' } of answers) {
            const color = colorOfBackend(mapValue(answer, ROUTE_KEY));
            const verify = answer
                .split('\n')
                .map(l => l.trim().split(/\s+/))
                .find(f => f.length === 3 && f[1] !== ROUTE_KEY);
            if (color && verify)
                return liveLabels(color, verify[1], verify[2]);
        }
        return {};
    }
    /** Every eligible node's proxy task running, bounded. */
    async waitProxies() {
        const { cluster } = this.deps;
        const started = Date.now();
        for (;;) {
            const [tasks, nodes] = await Promise.all([cluster.tasks(this.service), cluster.nodes()]);
            const label = this.deps.swarm.proxyLabel;
            const eligible = nodes.filter(n => n.state === 'ready' && n.availability === 'active' && (!label || n.labels[label] === 'true'));
            // (a task on a node that went down still reads running until Swarm notices: only ready nodes count)
            const running = tasks.filter(t => isCurrentTask(t) && t.state === 'running' && t.addresses.length && eligible.some(n => n.id === t.nodeId));
            if (eligible.length && eligible.every(n => running.some(t => t.nodeId === n.id)))
                return running.map(t => ({ node: t.node, address: t.addresses[0] }));
            if (Date.now() - started > PROXY_START_TIMEOUT_MS) {
                const missing = eligible.filter(n => !running.some(t => t.nodeId === n.id)).map(n => n.addr);
                throw new Error(`The proxy service ${this.service} has no running task on ${missing.join(', ') || 'any node'} after ${PROXY_START_TIMEOUT_MS / 1000} s: ${tasks.find(t => t.error)?.error ?? 'no error from Swarm'}`);
            }
            await new Promise(r => setTimeout(r, 500));
        }
    }
    /** The switchboard relays to exactly the running proxy tasks (re-created when they changed). */
    async connectSwitchboard(appNetwork) {
        const { docker, proxy, registry, log } = this.deps;
        const tasks = await this.waitProxies();
        const targets = tasks.map(t => t.address).sort();
        const name = switchboardName(this.deps.app);
        const container = docker.getContainer(name);
        let info = await inspectIfExists(container);
        if (info && this.switchboard && info.Config.Labels?.[TARGETS_LABEL] === targets.join(',') && info.State.Running)
            return;
        if (info && (info.Config.Labels?.[TARGETS_LABEL] !== targets.join(',') || !info.State.Running)) {
            await container.remove({ force: true });
            info = undefined;
        }
        if (!info) {
            await ensureProxyImage(docker, proxy.image, registry, log);
            await docker.createContainer({
                name,
                Image: proxy.image,
                Labels: { [core_names/* LABEL */.d_.managed]: 'true', [core_names/* LABEL */.d_.app]: this.deps.app, [core_names/* LABEL */.d_.role]: 'proxy-switch', [TARGETS_LABEL]: targets.join(',') },
                HostConfig: { NetworkMode: 'bridge', RestartPolicy: { Name: 'unless-stopped' } }
            });
            await putFile(container, SWARM_CONF_DIR, 'haproxy.cfg', renderSwitchboardConfig(targets));
            await docker.getNetwork(appNetwork).connect({ Container: name });
            await container.start();
            info = await container.inspect();
        }
        const address = info.NetworkSettings.Networks?.bridge?.IPAddress;
        if (!address)
            throw new Error(`The switchboard ${name} has no address on the manager's bridge network`);
        this.switchboard = { address, tasks: targets.map(a => tasks.find(t => t.address === a)) };
    }
    /**
     * Sends one line to every proxy task at once; answers with when each finished. A task that does
     * not answer (its node went down) makes the switchboard look again at which tasks run, once.
     */
    async everyProxy(line, again = true) {
        // Asked before ensure (the inspect step reads the route): connected to the proxy there is, if any.
        const network = (0,core_names/* networkName */.uv)(this.deps.app);
        if (!this.switchboard && (await this.deps.cluster.service(this.service)))
            await this.connectSwitchboard(network);
        const board = this.switchboard;
        if (!board)
            return [];
        const open = (i) => () => this.openWithRetry(board.address, 10000 + i);
        const answers = await Promise.all(board.tasks.map(async (task, i) => {
            try {
                const answer = await runtimeCommand(open(i), line, RUNTIME_TIMEOUT_MS);
                return { task, answer, at: performance.now() };
            }
            catch (e) {
                return { task, error: e.message, at: performance.now() };
            }
        }));
        if (!again || !answers.some(a => a.error))
            return answers;
        await this.connectSwitchboard(network);
        return this.switchboard === board ? answers : this.everyProxy(line, false);
    }
    /** The switchboard may still be starting: a refused connection is tried again for a moment. */
    async openWithRetry(address, port) {
        for (let attempt = 0;; attempt++) {
            try {
                return await this.deps.openTcp(address, port);
            }
            catch (e) {
                if (attempt >= 20)
                    throw e;
                await new Promise(r => setTimeout(r, 100));
            }
        }
    }
    async current() {
        const answers = await this.everyProxy(`show map ${SWARM_ROUTE_MAP};show map ${SWARM_VERIFY_MAP}`);
        const routes = answers.map(a => {
            const color = colorOfBackend(mapValue(a.answer ?? '', ROUTE_KEY));
            const release = (a.answer ?? '')
                .split('\n')
                .map(l => l.trim().split(/\s+/))
                .find(f => f.length === 3 && f[1] !== ROUTE_KEY)?.[2];
            return color && release ? { color, releaseId: decodeRelease(release) ?? release } : undefined;
        });
        // A proxy task that disagrees (restarted with a route that was not recorded) is what the run must put right.
        const first = routes[0];
        const odd = routes.findIndex(r => r?.releaseId !== first?.releaseId);
        return odd >= 0 ? routes[odd] : first;
    }
    /** Every proxy task switched together; throws naming those that were not (the engine's undo routes back). */
    async apply(route) {
        const token = (0,external_node_crypto_.randomBytes)(12).toString('hex');
        const answers = await this.everyProxy(switchLine(route.color, token, encodeRelease(route.releaseId)));
        const failed = answers.filter(a => a.error || runtimeErrors(a.answer ?? '').length);
        const times = answers.filter(a => !a.error).map(a => a.at);
        this.lastSpreadMs = times.length ? Math.round((Math.max(...times) - Math.min(...times)) * 10) / 10 : undefined;
        if (failed.length)
            throw new Error(`${failed.length} of ${answers.length} proxy task(s) did not switch: ${failed.map(f => `${f.task.node}: ${f.error ?? runtimeErrors(f.answer ?? '').join(' ')}`).join('; ')}`);
        this.deps.log.info(`Switched ${answers.length} proxy task(s) to ${route.color} within ${this.lastSpreadMs} ms of each other (first to last)`);
        await this.recordRoute(route, token);
    }
    /** After the switch (not in its path): the route on the service's labels, for the proxy tasks Swarm starts later. */
    async recordRoute(route, token) {
        try {
            await this.deps.cluster.setServiceLabels(this.service, liveLabels(route.color, token, encodeRelease(route.releaseId)));
        }
        catch (e) {
            this.deps.log.warning(`Every proxy task routes ${this.deps.app} to ${route.color}, but the route could not be recorded on the service ${this.service} (${e.message}): a proxy task Swarm starts from now on routes to the color of the switch before, until the next deploy or rollback`);
        }
    }
    /** Through each node's published port (from the manager), until every one answers from the release. */
    async verify(route, path, timeoutMs) {
        const answers = await this.everyProxy(`show map ${SWARM_VERIFY_MAP}`);
        const token = (answers.find(a => a.answer)?.answer ?? '')
            .split('\n')
            .map(l => l.trim().split(/\s+/))
            .find(f => f.length === 3)?.[1] ?? '';
        const nodes = [...new Set((this.switchboard?.tasks ?? []).map(t => t.node))];
        if (!nodes.length)
            throw new Error(`The proxy service ${this.service} has no task to verify through`);
        const ask = {
            releaseId: route.releaseId,
            token,
            tokenHeader: 'x-cutover-verify',
            releaseHeader: 'x-cutover-release',
            decode: decodeRelease,
            confirmAfterMs: 0
        };
        const results = await Promise.all(nodes.map(node => verifyThroughProxy((_h, port) => this.deps.openTcp(node, port), this.deps.proxy, ask, path, timeoutMs)));
        return results.find(r => !r.ok) ?? results.reduce((a, b) => (a.ms >= b.ms ? a : b));
    }
    /**
     * The app off its proxy (mode remove, the undo of a failed first deploy): every proxy task routes
     * it to no release (503) through its runtime API at once, as a switch does, and the service's
     * labels say so for tasks Swarm starts later. With `drain`, then waits while the tasks still hold
     * requests to either color. The proxy service is the app's own: mode remove removes it with the
     * app's other services. false: no proxy service, or it routed the app nowhere already.
     */
    async withdraw(drain) {
        const { cluster, log, app } = this.deps;
        if (!(await cluster.service(this.service)))
            return false;
        const before = await this.current();
        const answers = await this.everyProxy(unrouteLine());
        const failed = answers.filter(a => a.error || runtimeErrors(a.answer ?? '').length);
        if (failed.length)
            throw new Error(`${failed.length} of ${answers.length} proxy task(s) did not take ${app} off: ${failed.map(f => `${f.task.node}: ${f.error ?? runtimeErrors(f.answer ?? '').join(' ')}`).join('; ')}`);
        log.info(`Took ${app} off its ${answers.length} proxy task(s) through their runtime API: new requests get a 503 (no release of ${app} is live)`);
        await cluster
            .setServiceLabels(this.service, { [LIVE_ROUTE_LABEL]: NO_ROUTE_BACKEND, [LIVE_VERIFY_LABEL]: '' })
            .catch((e) => log.warning(`Could not record on the service ${this.service} that ${app} has no route (${e.message})`));
        if (drain && before)
            await drain(() => this.inFlight());
        return before !== undefined;
    }
    /** The requests to either color every proxy task holds now (their backends' current sessions). */
    async inFlight() {
        const answers = await this.everyProxy(ALL_BACKENDS_STAT);
        const failed = answers.find(a => a.error);
        if (failed)
            throw new Error(`the proxy task on ${failed.task.node} did not answer: ${failed.error}`);
        return answers.reduce((sum, a) => sum + sessionsOf(a.answer ?? '', COLOR_BACKENDS), 0);
    }
    async serversUp(color) {
        const answers = await this.everyProxy(`show servers state ${colorBackend(color)}`);
        return answers.map(a => ({ proxy: a.task.node, up: a.answer ? upAddresses(parseServersState(a.answer)) : [], ...(a.error ? { error: a.error } : {}) }));
    }
}

;// CONCATENATED MODULE: ./src/adapters.ts











/** How long a run waits for another app's run to finish creating or changing the shared proxy. */
const PROXY_LOCK_TIMEOUT_MS = 60_000;
/**
 * The engine's ports on one connected host: Docker, the proxy (of the type settled on that host,
 * see proxy/choose.ts) and the release ledger, all over the run's one SSH connection to it.
 */
function hostAdapters(config, proxy, on, holder, log) {
    const { ssh, docker, shell } = on;
    const openTcp = (host, port) => ssh.openTcp(host, port);
    if (config.swarm)
        return swarmAdapters(config, proxy, on, log);
    // Credentials meant for "whatever app image is pulled" are not offered to the proxy image's registry.
    const proxyAuth = config.registry?.serveraddress ? config.registry : undefined;
    // App names have no dots, so this lock never shares a file with an app's deploy lock. Taken by the
    // run's shell when free (no new SSH channel), else waited for on a channel of its own.
    const proxyLock = `proxy.${proxy.name}`;
    const lockProxy = async () => (await shell.tryLock(proxyLock, holder)) ?? lock/* DeployLock */.Fc.acquire(ssh, proxyLock, holder, PROXY_LOCK_TIMEOUT_MS, log);
    return {
        host: new DockerHost(docker, openTcp, config.registry),
        router: createRouter(proxy, config.app, {
            docker,
            openTcp,
            openUnixSocket: path => ssh.openUnixSocket(path),
            registry: proxyAuth,
            log,
            lockProxy,
            hostFacts: () => shell.facts(config.dockerSocket)
        }),
        ledger: new LedgerFile(shell, config.app)
    };
}
/** The proxy line of the log: which proxy, and whether proxy-type auto chose it. */
function describeProxy(config, proxy) {
    return `Proxy: ${proxy.name} (${ROUTERS[proxy.type].capabilities.name}${config.proxy.type === 'auto' ? ', proxy-type auto' : ''})`;
}
/**
 * The proxy of one connected host, as the run will use it: proxy-type auto settled on what the
 * host runs (an app without a web role has none), said in the log, and the run's inputs checked
 * against that router's capabilities before anything on the host changes. One host and each host
 * of several go through this.
 */
async function settleProxy(docker, config, log) {
    // mode remove asks the proxy whatever app-port says: the app may have had a web role when it was deployed.
    if (config.roles?.web === false && config.mode !== 'remove')
        return noProxy(config.proxy);
    const proxy = (await resolveProxy(docker, config.proxy)).settings;
    log.info(describeProxy(config, proxy));
    const lacking = (0,proxy_capabilities/* proxyCapabilityProblem */.Ok)(config, proxy.type);
    if (lacking)
        throw new ReleaseError({ reason: lacking.message });
    return proxy;
}
/** The shell that serves the ledger: holding the deploy lock, or lock-free for a mode that only reads. */
function shellFor(ssh, config, holder, log, timeline) {
    if (!modes/* MODES */.F[config.mode].changes && !config.rebuildLedger)
        return lock/* DeployLock */.Fc.unlocked(ssh, log);
    const take = () => lock/* DeployLock */.Fc.acquire(ssh, config.app, holder, config.lockTimeoutMs, log);
    return timeline ? timeline.step('lock', `Taking the deploy lock of ${config.app}`, take) : take();
}
/**
 * target: swarm (issue #26): the manager's Docker as the host (the app's network an overlay), the
 * swarm proxy as the router, the colors as services; the ledger and the lock stay on the manager.
 */
function swarmAdapters(config, proxy, on, log) {
    const { ssh, docker, shell } = on;
    const swarm = config.swarm;
    const openTcp = (host, port) => ssh.openTcp(host, port);
    const cluster = new DockerSwarmCluster(docker, config.registry);
    const proxyAuth = config.registry?.serveraddress ? config.registry : undefined;
    const router = new SwarmProxy({ app: config.app, docker, cluster, openTcp, proxy, health: config.health, swarm, registry: proxyAuth, log });
    return {
        host: new SwarmManagerHost(docker, openTcp, config.registry, cluster),
        router,
        ledger: new LedgerFile(shell, config.app),
        colors: ctx => new SwarmColorSet(ctx, cluster, router, swarm)
    };
}
/** target: swarm's proxy settings: HAProxy always (the swarm proxy is its own service per app). */
function swarmProxySettings(config, log) {
    const proxy = noProxy(config.proxy);
    log.info(`Proxy: ${config.app}-proxy (HAProxy on every swarm node${config.swarm?.proxyLabel ? ` labelled ${config.swarm.proxyLabel}` : ''}, port ${proxy.port} in host mode)`);
    return proxy;
}

;// CONCATENATED MODULE: ./src/reporting/deployments.ts
function runContextFromEnv(env = process.env) {
    return {
        repository: env.GITHUB_REPOSITORY,
        sha: env.GITHUB_SHA,
        serverUrl: env.GITHUB_SERVER_URL ?? 'https://github.com',
        runId: env.GITHUB_RUN_ID,
        runAttempt: env.GITHUB_RUN_ATTEMPT
    };
}
function logUrlOf(ctx) {
    if (!ctx.repository || !ctx.runId)
        return undefined;
    const attempt = ctx.runAttempt && ctx.runAttempt !== '1' ? `/attempts/${ctx.runAttempt}` : '';
    return `${ctx.serverUrl}/${ctx.repository}/actions/runs/${ctx.runId}${attempt}`;
}
/** promote manual: the environment a preview is recorded in, so `environment` keeps showing what serves it. */
function previewEnvironment(environment) {
    return `${environment}-preview`;
}
function clip(text, max = 140) {
    return text.length <= max ? text : text.slice(0, max - 1) + '…';
}
/** The app a deployment was made for, from its payload (an object, or the same as a JSON string). */
function appOf(payload) {
    let p = payload;
    if (typeof p === 'string') {
        try {
            p = JSON.parse(p);
        }
        catch {
            return undefined;
        }
    }
    const app = p && typeof p === 'object' ? p.app : undefined;
    return typeof app === 'string' ? app : undefined;
}
function statusOf(e) {
    return e.status;
}
/**
 * A GitHub deployment for this run and its statuses. Problems with the API never stop the
 * deploy itself: they become warnings that say what to change (usually a permission).
 */
class GithubDeployment {
    token;
    owner;
    repo;
    ctx;
    request;
    log;
    id;
    disabled = false;
    client;
    constructor(token, owner, repo, ctx, request, log) {
        this.token = token;
        this.owner = owner;
        this.repo = repo;
        this.ctx = ctx;
        this.request = request;
        this.log = log;
    }
    /**
     * Octokit (with its HTTP client) is loaded by the first call to GitHub: a run that records no
     * deployment never parses it (issue #25). It reads GITHUB_API_URL when loaded, so GitHub
     * Enterprise Server works as it is.
     */
    octokit() {
        this.client ??= __webpack_require__.e(/* import() */ 413).then(__webpack_require__.bind(__webpack_require__, 2413)).then(github => github.getOctokit(this.token));
        return this.client;
    }
    static forRun(token, ctx, request, log) {
        if (!token) {
            log.warning('No github-token was given, so no GitHub deployment is recorded (set deployments: false to silence this).');
            return undefined;
        }
        if (!ctx.repository || !ctx.sha) {
            log.info('GITHUB_REPOSITORY or GITHUB_SHA is not set (not running in GitHub Actions?): no GitHub deployment is recorded.');
            return undefined;
        }
        const [owner, repo] = ctx.repository.split('/');
        return new GithubDeployment(token, owner, repo, ctx, request, log);
    }
    warn(what, e) {
        const status = statusOf(e);
        const hint = status === 403 || status === 404
            ? " The token cannot write deployments: add 'permissions: deployments: write' to the job (or set deployments: false)."
            : '';
        this.log.warning(`Could not ${what} on GitHub (${status ?? 'no answer'}: ${e.message}).${hint} The deploy goes on.`);
    }
    async create() {
        try {
            const res = await this.createAt(this.request.ref ?? this.ctx.sha).catch(e => {
                // The restored release's commit may be unknown here (another repository, a rewritten history).
                if (this.request.ref && this.request.ref !== this.ctx.sha && statusOf(e) === 422) {
                    this.log.info(`GitHub does not know commit ${this.request.ref}; recording the deployment at this run's commit instead`);
                    return this.createAt(this.ctx.sha);
                }
                throw e;
            });
            if (res.status === 201 && 'id' in res.data) {
                this.id = res.data.id;
                this.log.info(`GitHub deployment ${this.id} created for ${this.request.environment}`);
            }
            else {
                this.disabled = true;
                this.log.warning(`GitHub did not create a deployment (${res.status}: ${'message' in res.data ? res.data.message : ''}).`);
            }
        }
        catch (e) {
            this.disabled = true;
            this.warn('create a deployment', e);
        }
    }
    async createAt(ref) {
        return (await this.octokit()).rest.repos.createDeployment({
            owner: this.owner,
            repo: this.repo,
            ref,
            environment: this.request.environment,
            auto_merge: false,
            required_contexts: [],
            payload: { app: this.request.app, image: this.request.image },
            description: clip(this.request.description),
            production_environment: /^prod(uction)?$/i.test(this.request.environment),
            transient_environment: this.request.transient ?? false
        });
    }
    async setStatus(state, description, environmentUrl) {
        if (this.disabled || this.id === undefined)
            return;
        try {
            await (await this.octokit()).rest.repos.createDeploymentStatus({
                owner: this.owner,
                repo: this.repo,
                deployment_id: this.id,
                state,
                description: clip(description),
                log_url: logUrlOf(this.ctx),
                environment_url: state === 'success' ? environmentUrl : undefined,
                // cutover marks superseded deployments itself, for this app only.
                auto_inactive: false
            });
        }
        catch (e) {
            this.warn(`set the deployment status to ${state}`, e);
        }
    }
    /** Marks earlier successful deployments of this app in the environment as inactive. */
    async retireSuperseded() {
        if (this.disabled || this.id === undefined)
            return 0;
        const id = this.id;
        return this.retireIn(this.request.environment, d => d < id, `Superseded by deployment ${id}`);
    }
    /**
     * Marks every successful deployment cutover made for `app` in `environment` inactive: a preview's
     * (<environment>-preview) once it was promoted or discarded, so no deployment says a preview
     * waits when none does; and all of an app's once mode remove took it off the host.
     */
    static async retireEnvironment(token, ctx, app, environment, why, log) {
        if (!token || !ctx.repository || !ctx.sha)
            return 0;
        const [owner, repo] = ctx.repository.split('/');
        const previews = new GithubDeployment(token, owner, repo, ctx, { app, image: '', environment, description: '' }, log);
        return previews.retireIn(environment, () => true, why);
    }
    /** Marks this app's successful deployments in `environment` (those `which` picks by id) inactive. */
    async retireIn(environment, which, description) {
        let retired = 0;
        try {
            const { data: deployments } = await (await this.octokit()).rest.repos.listDeployments({
                owner: this.owner,
                repo: this.repo,
                environment,
                per_page: 30
            });
            for (const d of deployments) {
                // Only earlier deployments, and only ones cutover made for this app: another app sharing
                // the environment, or another tool's deployment (no app in its payload), is left alone.
                if (!which(d.id))
                    continue;
                if (appOf(d.payload) !== this.request.app)
                    continue;
                const { data: statuses } = await (await this.octokit()).rest.repos.listDeploymentStatuses({
                    owner: this.owner,
                    repo: this.repo,
                    deployment_id: d.id,
                    per_page: 1
                });
                if (statuses[0]?.state !== 'success')
                    continue;
                await (await this.octokit()).rest.repos.createDeploymentStatus({
                    owner: this.owner,
                    repo: this.repo,
                    deployment_id: d.id,
                    state: 'inactive',
                    description: clip(description)
                });
                retired++;
            }
        }
        catch (e) {
            this.warn('mark superseded deployments inactive', e);
        }
        return retired;
    }
}

;// CONCATENATED MODULE: ./src/reporting/certificates.ts
/** Certificates expiring sooner than this are warned about (issue #10). */
const EXPIRY_WARNING_DAYS = 14;
function daysLeft(c, now = Date.now()) {
    return c.notAfter ? Math.floor((Date.parse(c.notAfter) - now) / 86_400_000) : undefined;
}
/** Reads and logs each domain's certificate; never fails the run (it is a report, not a step). */
async function reportCertificates(router, log) {
    let certs;
    try {
        certs = (await router.certificates?.()) ?? [];
    }
    catch (e) {
        log.warning(`Could not read the certificates on the proxy: ${e.message}`);
        return [];
    }
    for (const c of certs) {
        const days = daysLeft(c);
        if (days === undefined)
            log.warning(`Certificate of ${c.domain}: none on the proxy covers it`);
        else if (days < EXPIRY_WARNING_DAYS)
            log.warning(`Certificate of ${c.domain} expires in ${days} days (${c.notAfter}), issued by ${c.issuer}`);
        else
            log.info(`Certificate of ${c.domain}: issued by ${c.issuer}, valid until ${c.notAfter} (${days} days)`);
    }
    return certs;
}
/** The job summary's certificate table (markdown; issuer names escaped). */
function renderCertificates(certs, now = Date.now()) {
    if (!certs.length)
        return '';
    const esc = (t) => t.replace(/[|<>`*_[\]\\]/g, m => `\\${m}`);
    // Several hosts: each proxy has its own certificates, so each row names its host.
    const byHost = certs.some(c => c.host);
    const rows = certs.map(c => {
        const days = daysLeft(c, now);
        const state = days === undefined ? '⚠️ no certificate' : days < EXPIRY_WARNING_DAYS ? `⚠️ expires in ${days} days` : `${days} days left`;
        return `|${byHost ? ` ${esc(c.host ?? '—')} |` : ''} ${esc(c.domain)} | ${esc(c.issuer ?? '—')} | ${c.notAfter ?? '—'} | ${state} |`;
    });
    const head = byHost ? ['| host | domain | issuer | expires | |', '|---|---|---|---|---|'] : ['| domain | issuer | expires | |', '|---|---|---|---|'];
    return ['', '### Certificates', '', ...head, ...rows, ''].join('\n');
}

// EXTERNAL MODULE: external "node:util"
var external_node_util_ = __webpack_require__(7975);
// EXTERNAL MODULE: ./node_modules/dockerode/lib/docker.js
var lib_docker = __webpack_require__(9040);
var docker_default = /*#__PURE__*/__webpack_require__.n(lib_docker);
;// CONCATENATED MODULE: ./src/transport/docker.ts




/** A Docker API call whose answer was cut off after it began (see DockerSocketAgent.bound). */
class DockerConnectionError extends Error {
    name = 'DockerConnectionError';
}
/** The response a request has received so far (ClientRequest.res exists at runtime but is missing from @types/node). */
function responseOf(req) {
    return req.res ?? undefined;
}
/** A Docker API call that got no complete answer in its time (see requestBound). */
class DockerTimeoutError extends Error {
    name = 'DockerTimeoutError';
}
const DEFAULT_TIMEOUTS = { defaultMs: 60_000, heavyMs: 180_000, stopExtraMs: 60_000 };
/**
 * How long one Docker API request may take, from the moment it is queued to the end of its
 * answer; undefined for calls that legitimately last as long as something else does: an image
 * pull or build (bounded by pullImage's own no-progress timeout instead), waiting for a
 * container, following logs or events, attaching.
 */
function requestBound(method, fullPath, t = DEFAULT_TIMEOUTS) {
    const [rawPath, query = ''] = fullPath.split('?', 2);
    const path = rawPath.replace(/^\/v\d+(\.\d+)?(?=\/)/, '');
    const params = new URLSearchParams(query);
    const m = method.toUpperCase();
    if (m === 'POST' && /^\/(images\/create|build|images\/load|session)$/.test(path))
        return undefined;
    if (/^\/containers\/[^/]+\/(wait|attach(\/ws)?)$/.test(path) || path === '/events')
        return undefined;
    if (/^\/containers\/[^/]+\/logs$/.test(path) && ['1', 'true'].includes(params.get('follow') ?? ''))
        return undefined;
    if (m === 'POST' && /^\/containers\/[^/]+\/(stop|restart)$/.test(path)) {
        const grace = Number(params.get('t') ?? '10');
        return (Number.isFinite(grace) && grace >= 0 ? grace * 1000 : 10_000) + t.stopExtraMs;
    }
    if (m === 'POST' && /^\/containers\/(create|[^/]+\/start)$/.test(path))
        return t.heavyMs;
    if (m === 'DELETE' && /^\/(containers|images)\/[^/]+$/.test(path))
        return t.heavyMs;
    if (m === 'POST' && /^\/(containers|images|networks|volumes)\/prune$/.test(path))
        return t.heavyMs;
    return t.defaultMs;
}
/**
 * An HTTP agent whose connections are SSH channels to the host's Docker socket,
 * so all Docker API calls share the run's one SSH connection.
 */
class DockerSocketAgent extends (external_node_http_default()).Agent {
    ssh;
    socketPath;
    timeouts;
    /** SSH channels opened to the socket (HTTP connections). */
    channelsOpened = 0;
    /** Docker API requests sent over them. */
    apiRequests = 0;
    constructor(ssh, socketPath, timeouts = DEFAULT_TIMEOUTS) {
        super({ keepAlive: true, maxSockets: 8 });
        this.ssh = ssh;
        this.socketPath = socketPath;
        this.timeouts = timeouts;
    }
    /**
     * docker-modem formats every request's options with util.inspect, agent included, even with
     * debug logging off; walking this agent's sockets and the SSH client behind them cost up to
     * ~250 ms per call with 10 calls in flight (measured by the benchmark).
     */
    [external_node_util_.inspect.custom]() {
        return 'DockerSocketAgent';
    }
    // addRequest exists at runtime on every http.Agent but is missing from @types/node.
    addRequest(req, options) {
        this.apiRequests++;
        this.traced(req, String(options.method ?? 'GET'), String(options.path ?? '/'));
        this.bound(req, String(options.method ?? 'GET'), String(options.path ?? '/'));
        external_node_http_default().Agent.prototype.addRequest.call(this, req, options);
    }
    /** Each call's time in the run's trace, named by method and path without the API version or query. */
    traced(req, method, path) {
        const start = (0,trace/* sinceStart */.B)();
        const name = `docker ${method} ${path.split('?')[0].replace(/^\/v\d+(\.\d+)?(?=\/)/, '')}`;
        req.once('close', () => trace/* trace */.u.span(name, start));
    }
    /**
     * A hard deadline per request, from queueing to the end of the answer (or of the hijacked
     * stream, for exec). docker-modem's own `timeout` is an idle timer set with setTimeout on the
     * socket, which SSH channels do not have: it would never fire.
     *
     * An answer cut off after its headers (the channel to the socket closed part-way) also fails the
     * call: http only destroys the response then, which neither docker-modem (it waits for the
     * body's 'end') nor a reader of a streamed body sees, and the deadline is over once the
     * request has closed, so the run would wait for the rest for ever.
     */
    bound(req, method, path) {
        const ms = requestBound(method, path, this.timeouts);
        const what = `${method} ${path.split('?')[0]}`;
        let upgraded;
        let failed = false;
        const timer = ms === undefined
            ? undefined
            : setTimeout(() => {
                const error = new DockerTimeoutError(`The Docker API call ${what} got no complete answer within ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}: the Docker daemon on the host may be stuck`);
                if (upgraded)
                    return void upgraded.destroy(error);
                // A streamed body's reader learns it from the response; docker-modem from the request.
                responseOf(req)?.destroy(error);
                req.destroy(error);
            }, ms);
        const clear = () => clearTimeout(timer);
        req.on('upgrade', (_res, socket) => {
            upgraded = socket;
            socket.once('close', clear);
        });
        req.once('close', () => {
            if (upgraded)
                return;
            clear();
            const res = responseOf(req);
            if (failed || !res || res.complete)
                return;
            const error = new DockerConnectionError(`The Docker API call ${what} was cut off: the connection to the Docker socket closed before the answer ended (${res.errored?.message ?? 'aborted'})`);
            res.destroy(error);
            req.emit('error', error);
        });
        // The error reaches docker-modem's own listener: this one only keeps the timer from leaking.
        req.on('error', () => {
            failed = true;
            if (!upgraded)
                clear();
        });
    }
    createConnection(_options, callback) {
        this.channelsOpened++;
        this.ssh.openUnixSocket(this.socketPath).then(channel => callback?.(null, asSocket(channel)), err => callback?.(err, undefined));
        return undefined;
    }
}
/**
 * SSH channels are Duplex streams without net.Socket's tuning methods, which http calls. And
 * ssh2's Channel.destroy() ignores its error argument (it only ends and closes the channel):
 * give it net.Socket's behaviour, an 'error' event, so an HTTP request destroyed with a reason
 * (a timeout) fails at once with that reason instead of waiting for the channel to close.
 */
function asSocket(channel) {
    const shim = channel;
    for (const name of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref']) {
        if (typeof shim[name] !== 'function')
            shim[name] = () => shim;
    }
    const destroy = channel.destroy.bind(channel);
    let errored = false;
    shim.destroy = (error) => {
        if (error && !errored) {
            errored = true;
            process.nextTick(() => shim.emit('error', error));
        }
        try {
            destroy();
        }
        catch {
            // the connection is already gone
        }
        return shim;
    };
    // An 'error' with nobody listening would end the process; http adds its own while in use.
    shim.on('error', () => undefined);
    return shim;
}
function dockerOverSsh(ssh, socketPath, timeouts = DEFAULT_TIMEOUTS) {
    const agent = new DockerSocketAgent(ssh, socketPath, timeouts);
    // docker-modem's own 'ssh' protocol would open a new SSH connection per request.
    const docker = new (docker_default())({ protocol: 'http', host: 'docker', port: 80, agent });
    return { docker, agent };
}

;// CONCATENATED MODULE: ./src/fleet/timeline.ts

/** A host's timeline that also keeps when its proxy switched, for the spread between hosts. */
class StampedTimeline extends Timeline {
    switchedAt;
    async step(name, title, fn) {
        const value = await super.step(name, title, fn);
        if (name === 'switch')
            this.switchedAt = Date.now();
        return value;
    }
}

;// CONCATENATED MODULE: ./src/fleet/hosts.ts








function labelOf(ssh) {
    return `${ssh.user}@${ssh.host.includes(':') ? `[${ssh.host}]` : ssh.host}:${ssh.port}`;
}
/**
 * A host's lines in a log shared by hosts working in parallel: prefixed with the host, and no
 * collapsible groups (the runner cannot interleave them).
 */
function hostLog(log, label) {
    return {
        info: m => log.info(`[${label}] ${m}`),
        warning: m => log.warning(`[${label}] ${m}`),
        error: (m, title) => log.error(`[${label}] ${m}`, title),
        group: (name, fn) => {
            log.info(`[${label}] ▸ ${name}`);
            return fn();
        }
    };
}
/**
 * The run stopped before it changed anything because some hosts could not be reached (or locked).
 * `hosts` has every host of the input, in its order: `failed` with the reason for each that could
 * not, `skipped` for the others (reached, left as they were), for the `hosts` output and the summary.
 */
class FleetConnectError extends Error {
    hosts;
    name = 'FleetConnectError';
    constructor(message, hosts) {
        super(message);
        this.hosts = hosts;
    }
}
/** Every host of the input: `failed` with its reason where `reasons` has one, `skipped` (left as it was) otherwise. */
function untouchedHosts(labels, reasons, why) {
    return labels.map(host => {
        const reason = reasons.get(host);
        return reason !== undefined ? { host, result: 'failed', error: reason } : { host, result: 'skipped', error: `Nothing was done here: ${why}` };
    });
}
/** One connected host: its SSH connection, Docker agent, lock (or lock-free shell) and timeline. */
class ConnectedHost {
    label;
    ssh;
    docker;
    ctx;
    shell;
    /** The proxy as settled on this host (proxy-type auto: the type it already runs). */
    proxy;
    timeline;
    log;
    constructor(label, ssh, docker, ctx) {
        this.label = label;
        this.ssh = ssh;
        this.docker = docker;
        this.ctx = ctx;
        this.log = hostLog(ctx.log, label);
        this.timeline = new StampedTimeline(this.log);
    }
    engine(extra) {
        const { config, run, author, holder, onPlanned } = this.ctx;
        return new ReleaseEngine({
            config: engineConfigOf(config),
            ...hostAdapters(config, this.proxy, { ssh: this.ssh, docker: this.docker.docker, shell: this.shell }, holder, this.log),
            log: this.log,
            timeline: this.timeline,
            run,
            author,
            onPlanned,
            ...extra
        });
    }
    /** The certificates this host's proxy serves for the app (tls on; empty otherwise, or with no web role). */
    async certificates() {
        const { config, holder } = this.ctx;
        if (config.roles?.web === false || !this.shell || this.lost())
            return [];
        const { router } = hostAdapters(config, this.proxy, { ssh: this.ssh, docker: this.docker.docker, shell: this.shell }, holder, this.log);
        return (await reportCertificates(router, this.log)).map(c => ({ ...c, host: this.label }));
    }
    switchedAt() {
        return this.timeline.switchedAt;
    }
    lost() {
        return this.ssh.lost?.message;
    }
    close() {
        this.shell?.release();
        this.shell = undefined;
        this.docker.agent.destroy();
        this.ssh.close();
    }
}
/**
 * The hosts of a run: connected in parallel, then locked one after the other in a fixed order
 * (sorted labels), so two runs over overlapping hosts never hold a lock the other waits for.
 */
class FleetHosts {
    members;
    constructor(members) {
        this.members = members;
    }
    /** Connects to every host; if any cannot be reached, closes the others and throws naming each. */
    static async connect(ctx, note) {
        const hosts = ctx.config.fleet.hosts;
        const settled = await Promise.allSettled(hosts.map(async (ssh) => {
            const label = labelOf(ssh);
            const session = await transport_ssh/* SshSession */.vM.connect(ssh);
            const docker = dockerOverSsh(session, ctx.config.dockerSocket);
            try {
                const version = await docker.docker.version();
                const host = new ConnectedHost(label, session, docker, ctx);
                session.onLost(e => host.log.warning(e.message));
                host.log.info(`Connected: Docker ${version.Version} (API ${version.ApiVersion}, ${version.Os}/${version.Arch})`);
                host.proxy = await settleProxy(docker.docker, ctx.config, host.log);
                return host;
            }
            catch (e) {
                docker.agent.destroy();
                session.close();
                throw e;
            }
        }));
        const connected = settled.flatMap(s => (s.status === 'fulfilled' ? [s.value] : []));
        const reasons = new Map(settled.flatMap((s, i) => (s.status === 'rejected' ? [[labelOf(hosts[i]), s.reason.message]] : [])));
        if (reasons.size) {
            for (const h of connected)
                h.close();
            const failed = [...reasons].map(([label, reason]) => `${label}: ${reason}`);
            const why = `${reasons.size === 1 ? 'a host' : 'hosts'} could not be reached`;
            throw new FleetConnectError(`Could not connect to ${reasons.size} of ${hosts.length} hosts, so nothing was changed on any: ${failed.join('; ')}`, untouchedHosts(hosts.map(labelOf), reasons, why));
        }
        note(`${connected.length} hosts`);
        return new FleetHosts(connected);
    }
    /** Takes each host's deploy lock in sorted order (mode status: lock-free shells). */
    async lock(ctx, locked) {
        const { config, holder } = ctx;
        for (const host of [...this.members].sort((a, b) => a.label.localeCompare(b.label))) {
            try {
                host.shell = locked ? await shellFor(host.ssh, config, holder, host.log) : await lock/* DeployLock */.Fc.unlocked(host.ssh, host.log);
            }
            catch (e) {
                const reason = e.message;
                throw new FleetConnectError(`${host.label}: ${reason} (nothing was changed on any host)`, untouchedHosts(this.members.map(m => m.label), new Map([[host.label, reason]]), `${host.label} could not be locked`));
            }
        }
    }
    /** Releases every lock and closes every connection; safe to call more than once. */
    close() {
        for (const h of this.members)
            h.close();
    }
}

;// CONCATENATED MODULE: ./src/fleet/outcome.ts
const NOT_OK = new Set(['failed', 'cancelled', 'reverted', 'skipped']);
function hostOutcomeOf(run) {
    const o = run.outcome;
    return {
        host: run.host,
        result: run.result,
        color: o?.color,
        image: o?.image,
        release: o?.release?.id,
        error: run.failure?.reason,
        ...(o?.canarySteps ? { canarySteps: o.canarySteps } : {})
    };
}
/** The hosts whose live release differs from the first host's (nothing live counts as a release). */
function driftOf(hosts) {
    const key = (h) => `${h.image ?? ''}|${h.release ?? ''}`;
    return hosts.some(h => key(h) !== key(hosts[0]));
}
/**
 * One result for the run: failed when any host did not end on the new release, deployed (or
 * rolled-back) when at least one host changed and all ended on it, unchanged otherwise. The
 * color, image and releases are the first host's; `hosts` says what happened on each.
 */
function fleetResult(mode, runs) {
    const hosts = runs.map(hostOutcomeOf);
    const first = runs[0]?.outcome;
    const switched = runs.map(r => r.switchedAt).filter((t) => t !== undefined);
    const base = {
        result: 'unchanged',
        color: first?.color,
        image: first?.image,
        containerId: first?.containerId,
        deployedAt: first?.deployedAt,
        previousColor: first?.previousColor,
        previousImage: first?.previousImage,
        standby: first?.standby,
        release: first?.release,
        releases: first?.releases,
        hosts,
        // canary-steps: the steps of the host whose step breached, else the first host's (each host's are in `hosts`).
        canarySteps: (runs.find(r => r.result === 'failed' && r.outcome?.canarySteps) ?? runs[0])?.outcome?.canarySteps,
        switchSpreadMs: switched.length > 1 ? Math.max(...switched) - Math.min(...switched) : undefined
    };
    if (mode === 'status') {
        const failed = runs.filter(r => r.result === 'failed');
        const drift = driftOf(hosts);
        if (failed.length)
            return { ...base, result: 'failed', drift, failure: { reason: causes(failed) } };
        return { ...base, drift };
    }
    const causing = runs.filter(r => r.result === 'failed');
    if (runs.some(r => NOT_OK.has(r.result))) {
        const cause = causing[0] ?? runs.find(r => r.failure);
        const others = consequences(runs);
        return {
            ...base,
            result: 'failed',
            failure: {
                ...(cause?.failure ?? { reason: 'failed' }),
                reason: `${causing.length ? causes(causing) : (cause?.failure?.reason ?? 'The run failed.')}${others ? ` ${others}` : ''}`
            }
        };
    }
    // Every host left waiting or paused alike (a canary, a preview, maintenance): the run's result is that.
    const kinds = new Set(runs.map(r => r.result));
    const [only] = kinds;
    if (kinds.size === 1 && (only === 'canary' || only === 'preview' || only === 'maintenance' || only === 'live' || only === 'removed')) {
        return {
            ...base,
            result: only,
            ...(first?.preview ? { preview: first.preview } : {}),
            ...(first?.previewEnded ? { previewEnded: first.previewEnded } : {})
        };
    }
    const changed = runs.some(r => r.result === 'deployed' || r.result === 'rolled-back');
    const ended = first?.previewEnded ? { previewEnded: first.previewEnded } : {};
    return { ...base, ...ended, result: changed ? (mode === 'rollback' ? 'rolled-back' : 'deployed') : 'unchanged' };
}
function causes(failed) {
    return failed.map(r => `${r.host}: ${r.failure?.reason ?? 'failed'}`).join(' ');
}
/** What the failure meant for the other hosts, in one sentence. */
function consequences(runs) {
    const by = (kind) => runs.filter(r => r.result === kind).map(r => r.host);
    const parts = [
        [by('cancelled'), 'not switched (their new color removed)'],
        [by('reverted'), 'switched back to their previous release'],
        [by('skipped'), 'not started (the rolling rollout stopped)'],
        [by('deployed').concat(by('rolled-back')), 'kept the new release']
    ];
    const text = parts.filter(([hosts]) => hosts.length).map(([hosts, what]) => `${hosts.join(', ')}: ${what}`);
    return text.length ? `Other hosts — ${text.join('; ')}.` : '';
}

;// CONCATENATED MODULE: ./src/fleet/barrier.ts
/**
 * A meeting point for the hosts of one atomic batch: it opens when every host still taking part has
 * arrived, and fails for everyone waiting as soon as one host fails. A host that finishes without
 * reaching it (its release was already live) leaves it.
 */
class Barrier {
    expected;
    arrived = new Set();
    settled = false;
    resolveGate;
    rejectGate;
    gate;
    /** The host whose failure failed the barrier, and why. */
    failure;
    constructor(participants) {
        this.expected = new Set(participants);
        this.gate = new Promise((resolve, reject) => {
            this.resolveGate = resolve;
            this.rejectGate = reject;
        });
        // Nobody may be waiting when it fails: that is not an unhandled rejection.
        this.gate.catch(() => undefined);
        this.check();
    }
    /** Resolves when every host got here; rejects when one failed (before or after this host arrived). */
    arrive(host) {
        this.arrived.add(host);
        this.check();
        return this.gate;
    }
    leave(host) {
        this.expected.delete(host);
        this.check();
    }
    fail(host, reason) {
        if (this.settled)
            return;
        this.settled = true;
        this.failure = { host, reason };
        this.rejectGate(new Error(`${host} failed (${reason})`));
    }
    get opened() {
        return this.settled && !this.failure;
    }
    check() {
        if (this.settled)
            return;
        if ([...this.expected].every(h => this.arrived.has(h))) {
            this.settled = true;
            this.resolveGate();
        }
    }
}
/**
 * canary-steps over several hosts (issue #24): the hosts of a batch meet at the end of each step
 * with their verdicts and go on together with the combined one: a breach anywhere is a breach
 * everywhere, then too few requests anywhere. A host that fails or finishes leaves every meeting.
 */
class StepMeetings {
    expected;
    meetings = new Map();
    constructor(participants) {
        this.expected = new Set(participants);
    }
    arrive(host, weight, own) {
        const meeting = this.meeting(weight);
        meeting.verdicts.set(host, own);
        this.check(meeting);
        return meeting.done;
    }
    leave(host) {
        this.expected.delete(host);
        for (const m of this.meetings.values())
            this.check(m);
    }
    meeting(weight) {
        let m = this.meetings.get(weight);
        if (!m) {
            let resolve;
            const done = new Promise(r => (resolve = r));
            m = { verdicts: new Map(), resolve, done, settled: false };
            this.meetings.set(weight, m);
        }
        return m;
    }
    check(m) {
        if (m.settled || ![...this.expected].every(h => m.verdicts.has(h)))
            return;
        m.settled = true;
        const all = [...m.verdicts.entries()];
        for (const verdict of ['breached', 'low-traffic']) {
            const any = all.filter(([, v]) => v.verdict === verdict);
            const own = any.filter(([, v]) => !v.echo);
            const hit = own.length ? own : any;
            if (hit.length)
                return m.resolve({ verdict, why: hit.map(([host, v]) => `${host}: ${v.why}`).join('; ') });
        }
        m.resolve({ verdict: 'passed', why: `${all.length} hosts passed` });
    }
}

;// CONCATENATED MODULE: ./src/fleet/rollout.ts


/** What a failed engine reported live, so the host's row still says what serves there. */
function observedOf(e) {
    return e instanceof ReleaseError && e.result ? { ...e.result, result: 'failed' } : { result: 'failed' };
}
/**
 * Runs one release over several hosts. `atomic`: every host boots and health-gates the new color,
 * then all switch together; a failure before the switch switches no host, a failure after it
 * switches every host back. `rolling`: batches in order, each one atomic, each gated before the
 * next; a failure stops there and (rollbackOnFailure) rolls the earlier batches back.
 */
class FleetRollout {
    members;
    settings;
    log;
    newId;
    engines = new Set();
    abortReason;
    constructor(members, settings, log, newId) {
        this.members = members;
        this.settings = settings;
        this.log = log;
        this.newId = newId;
    }
    /** Passes a cancel on to every running engine (each stops at its next safe point). */
    abort(reason) {
        this.abortReason ??= reason;
        for (const e of this.engines)
            e.abort(reason);
    }
    /** One mode over the hosts (engine/modes.ts): a mode that switches goes in batches with barriers; any other runs on each host at once. */
    mode(entry, config) {
        return entry.switches ? this.inBatches(e => entry.run(e, config)) : this.each(e => entry.run(e, config));
    }
    release(request) {
        return this.inBatches(e => e.release(request));
    }
    status() {
        return this.each(e => e.status());
    }
    async inBatches(run) {
        const { rollout, batchSize, rollbackOnFailure } = this.settings;
        const batches = [];
        const size = rollout === 'atomic' ? this.members.length : batchSize;
        for (let i = 0; i < this.members.length; i += size)
            batches.push(this.members.slice(i, i + size));
        // Every host records the same release id: the fleet's proxies and ledgers name one release.
        const releaseId = this.newId();
        const runs = new Map();
        for (const [i, batch] of batches.entries()) {
            if (batches.length > 1)
                this.log.info(`Batch ${i + 1} of ${batches.length}: ${batch.map(m => m.label).join(', ')}`);
            const results = await this.batch(batch, run, { newId: () => releaseId });
            for (const r of results)
                runs.set(r.host, r);
            if (results.every(r => r.result !== 'failed' && r.result !== 'cancelled' && r.result !== 'reverted'))
                continue;
            if (i + 1 < batches.length)
                this.log.warning(`Batch ${i + 1} failed: the rollout stops; ${batches.length - i - 1} batch(es) not started.`);
            if (i > 0) {
                const done = batches.slice(0, i).flat();
                if (rollbackOnFailure)
                    await this.revert(done, runs);
                else
                    this.log.warning(`rollback-on-failure is false: ${done.map(m => m.label).join(', ')} keep the new release.`);
            }
            break;
        }
        return this.members.map(m => runs.get(m.label) ?? { host: m.label, result: 'skipped' });
    }
    /** Runs on every host at once; a host that fails fails its row, not the others. */
    async each(run) {
        return Promise.all(this.members.map(async (m) => {
            const engine = m.engine({});
            try {
                const outcome = await run(engine);
                return { host: m.label, result: outcome.result, outcome };
            }
            catch (e) {
                return { host: m.label, result: 'failed', failure: rollout_failureOf(e), outcome: observedOf(e) };
            }
        }));
    }
    /** release-command on several hosts: the host that got to it first, and how its run went. */
    releaseCommand;
    /** The release command runs once, on the first host to reach it; the others wait for it before they boot. */
    releaseCommandOnce(label, halt) {
        return async (runHere) => {
            if (!this.releaseCommand) {
                this.log.info(`release-command: runs once, on ${label}; the other hosts wait for it before they start the new color`);
                this.releaseCommand = { host: label, done: runHere() };
                return this.releaseCommand.done;
            }
            const { host, done } = this.releaseCommand;
            await done.catch((e) => {
                halt();
                throw new ReleaseError({ reason: `Not started, because the release command failed on ${host} (${e.message}): no host switches` });
            });
        };
    }
    /** One atomic batch: barriers before the switch, after the verify and after the watch. */
    async batch(batch, run, hooks) {
        const labels = batch.map(m => m.label);
        const gated = new Barrier(labels);
        const verified = new Barrier(labels);
        const watched = new Barrier(labels);
        const steps = new StepMeetings(labels);
        let watchFailure;
        if (batch.length > 1)
            this.log.info(`${batch.length} hosts: each boots and health-gates the new color; they switch together once all are healthy.`);
        return Promise.all(batch.map(async (m) => {
            let halted;
            const engine = m.engine({
                ...hooks,
                releaseCommandOnce: this.releaseCommandOnce(m.label, () => (halted = 'before-switch')),
                onWatchFailed: reason => {
                    watchFailure ??= { host: m.label, reason };
                    watched.fail(m.label, reason);
                },
                watchFailedElsewhere: () => {
                    if (!watchFailure || watchFailure.host === m.label)
                        return undefined;
                    halted = 'after-watch';
                    return `the watch failed on ${watchFailure.host} (${watchFailure.reason}), so every host rolls back`;
                },
                afterCanaryStep: async (weight, own) => {
                    const agreed = await steps.arrive(m.label, weight, own);
                    // Another host's verdict ends this host's canary (its own passed): switching back is a revert, as after another host's watch.
                    if (own.verdict === 'passed' && agreed.verdict !== 'passed')
                        halted = 'after-watch';
                    return agreed;
                },
                afterWatch: () => watched.arrive(m.label).catch((e) => {
                    halted = 'after-watch';
                    throw new Error(`${e.message.replace(/ failed \(/, "'s watch failed (")}, so every host rolls back`);
                }),
                beforeSwitch: () => gated.arrive(m.label).catch((e) => {
                    halted = 'before-switch';
                    throw new ReleaseError({ reason: `Not switched, because ${e.message}: no host switches` });
                }),
                afterVerify: () => verified.arrive(m.label).catch((e) => {
                    halted = 'after-verify';
                    throw new Error(`Switching every host back, because ${e.message}`);
                })
            });
            this.engines.add(engine);
            if (this.abortReason)
                engine.abort(this.abortReason);
            try {
                const outcome = await run(engine);
                gated.leave(m.label);
                verified.leave(m.label);
                watched.leave(m.label);
                steps.leave(m.label);
                return { host: m.label, result: outcome.result, outcome, switchedAt: m.switchedAt() };
            }
            catch (e) {
                const lost = m.lost?.();
                const failure = lost ? { reason: `${lost}. Nothing more could be done on this host; the next run recovers what this one left.` } : rollout_failureOf(e);
                if (!halted) {
                    gated.fail(m.label, failure.reason);
                    verified.fail(m.label, failure.reason);
                }
                // A watch that failed here has told the others already; any other failure after the switch is this host's alone.
                if (!(e instanceof ReleaseError && e.result?.result === 'auto-rolled-back'))
                    watched.leave(m.label);
                steps.leave(m.label);
                const result = halted === 'before-switch' ? 'cancelled' : halted === 'after-verify' || halted === 'after-watch' ? 'reverted' : 'failed';
                return { host: m.label, result, failure, outcome: observedOf(e), switchedAt: m.switchedAt() };
            }
            finally {
                this.engines.delete(engine);
            }
        }));
    }
    /** Rolls hosts of earlier batches back to the release live before this run. */
    async revert(members, runs) {
        const switched = members.filter(m => ['deployed', 'rolled-back'].includes(runs.get(m.label)?.result ?? ''));
        if (!switched.length)
            return;
        this.log.info(`rollback-on-failure: switching ${switched.map(m => m.label).join(', ')} back to their previous release`);
        const revertId = this.newId();
        await Promise.all(switched.map(async (m) => {
            const engine = m.engine({ newId: () => revertId });
            try {
                const outcome = await engine.release({ kind: 'rollback' });
                runs.set(m.label, {
                    host: m.label,
                    result: 'reverted',
                    outcome,
                    failure: { reason: 'Switched back to its previous release after a later batch failed' }
                });
            }
            catch (e) {
                const failure = rollout_failureOf(e);
                runs.set(m.label, {
                    host: m.label,
                    result: 'failed',
                    outcome: observedOf(e),
                    failure: { ...failure, reason: `A later batch failed and switching this host back failed: ${failure.reason}` }
                });
            }
        }));
    }
}
function rollout_failureOf(e) {
    return e instanceof ReleaseError ? e.failure : { reason: e.message };
}

;// CONCATENATED MODULE: ./src/fleet/run.ts





function run_newReleaseId() {
    return `${Date.now().toString(36)}-${(0,external_node_crypto_.randomBytes)(3).toString('hex')}`;
}
/** A run over several hosts (input `host` with more than one line): connect, lock, roll out, report each host. */
class FleetRun {
    ctx;
    timeline;
    hosts;
    rollout;
    abortReason;
    constructor(ctx, timeline) {
        this.ctx = ctx;
        this.timeline = timeline;
    }
    async run() {
        const { config, log } = this.ctx;
        const fleet = config.fleet;
        this.hosts = await this.timeline.step('connect', `Connecting to ${fleet.hosts.length} hosts`, note => FleetHosts.connect(this.ctx, note));
        if (this.abortReason)
            throw new Error(`${this.abortReason}: stopped before anything was changed`);
        const mode = modes/* MODES */.F[config.mode];
        const locked = mode.changes;
        if (locked)
            await this.timeline.step('lock', `Taking the deploy lock of ${config.app} on each host`, () => this.hosts.lock(this.ctx, true));
        else
            await this.hosts.lock(this.ctx, false);
        this.rollout = new FleetRollout(this.hosts.members, fleet, log, run_newReleaseId);
        if (this.abortReason)
            this.rollout.abort(this.abortReason);
        if (mode.switches)
            log.info(`Rollout: ${fleet.rollout}${fleet.rollout === 'rolling' ? ` in batches of ${fleet.batchSize}` : ''}`);
        const runs = await this.rollout.mode(mode, config);
        const result = fleetResult(config.mode, runs);
        for (const h of result.hosts ?? []) {
            log.info(`${h.host}: ${h.result}${h.color ? `, ${h.color} ${h.image} live (release ${h.release})` : ', nothing live'}${h.error ? ` — ${h.error}` : ''}`);
        }
        if (result.switchSpreadMs !== undefined)
            log.info(`The hosts' proxies switched within ${result.switchSpreadMs} ms of each other.`);
        if (result.drift)
            log.warning(`Drift: the hosts do not all have the same release live (see the hosts output).`);
        return result;
    }
    /** Each host's certificates for the app, for the summary (every host's proxy has its own). */
    async certificates() {
        return (await Promise.all((this.hosts?.members ?? []).map(h => h.certificates()))).flat();
    }
    abort(reason) {
        this.abortReason ??= reason;
        this.rollout?.abort(reason);
    }
    close() {
        this.hosts?.close();
    }
}

;// CONCATENATED MODULE: ./src/reporting/outputs.ts
/** The step's outputs, the same set in every mode ('' when not applicable); also for a run refused before it had a mode. */
function outputsOf(outcome, deploymentId) {
    return {
        result: outcome.result,
        color: outcome.color ?? '',
        'previous-color': outcome.previousColor ?? '',
        image: outcome.image ?? '',
        'previous-image': outcome.previousImage ?? '',
        'container-id': outcome.containerId ?? '',
        'standby-state': outcome.standby?.state ?? '',
        workers: (outcome.workers ?? []).map(w => w.container).join(' '),
        'deployment-id': deploymentId === undefined ? '' : String(deploymentId),
        'duration-seconds': (outcome.durationMs / 1000).toFixed(1),
        hosts: JSON.stringify(outcome.hosts ?? []),
        'preview-url': outcome.preview?.url ?? '',
        'canary-steps': JSON.stringify(outcome.canarySteps ?? []),
        'switch-spread-ms': outcome.switchSpreadMs === undefined ? '' : String(outcome.switchSpreadMs),
        drift: outcome.drift === undefined ? '' : String(outcome.drift)
    };
}

;// CONCATENATED MODULE: ./src/reporting/canary-chart.ts
const VERDICT = {
    passed: '✅ passed',
    breached: '❌ breached',
    'low-traffic': '💤 too few requests',
    aborted: '⏹️ stopped',
    'failed-elsewhere': '❌ breached on another host'
};
/**
 * canary-steps (issue #24): each step as a table row (weight, requests, 5xx share and response
 * time of both colors, p95 and mean, verdict) and two Mermaid charts (GitHub renders them in job summaries):
 * the canary's figures as bars, the live color's as a line, per step.
 */
function canaryStepsSection(outcome, esc) {
    const steps = outcome.canarySteps ?? [];
    if (!steps.length)
        return [];
    const canaryColor = outcome.result === 'deployed' ? outcome.color : outcome.result === 'canary' ? outcome.color : outcome.previousColor;
    const lines = [`**Canary steps** (canary${canaryColor ? ` ${canaryColor}` : ''} against the live color over the same window)`, ''];
    lines.push('| weight | held | canary requests | canary 5xx | canary time | live requests | live 5xx | live time | verdict |');
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const s of steps) {
        const c = figures(s.canary);
        const l = figures(s.live);
        lines.push(`| ${s.weight} % | ${Math.round(s.ms / 1000)} s | ${c.join(' | ')} | ${l.join(' | ')} | ${VERDICT[s.verdict]}: ${esc(s.why)} |`);
    }
    lines.push('');
    const xAxis = `x-axis [${steps.map(s => `"${s.weight} %"`).join(', ')}]`;
    const p95 = steps.some(s => s.canary.p95Ms !== undefined);
    lines.push(...chart(`Response time (ms${p95 ? ', p95' : ', mean'}): bars canary, line live`, xAxis, 'ms', steps, f => (p95 ? f.p95Ms : f.responseMs) ?? 0));
    lines.push(...chart('5xx share (%): bars canary, line live', xAxis, '%', steps, f => f.errorPercent));
    return lines;
}
function figures(f) {
    const margin = f.responseMarginMs && f.responseMarginMs > 1 ? ` ±${f.responseMarginMs}` : '';
    const mean = f.responseMs === undefined ? undefined : `${f.responseMs}${margin} ms mean`;
    // p95 of every logged request, or of a sample of the latest ones when more came than the proxy's ring holds.
    const p95 = f.p95Ms === undefined ? undefined : `${f.p95Ms} ms p95 (of ${f.p95Of})`;
    return [String(f.requests), `${f.errorPercent} %`, [p95, mean].filter(Boolean).join(', ') || '—'];
}
function chart(title, xAxis, unit, steps, value) {
    const canary = steps.map(s => value(s.canary));
    const live = steps.map(s => value(s.live));
    const top = Math.max(1, ...canary, ...live);
    return [
        '```mermaid',
        'xychart-beta',
        `  title "${title}"`,
        `  ${xAxis}`,
        `  y-axis "${unit}" 0 --> ${Math.ceil(top * 1.1)}`,
        `  bar [${canary.join(', ')}]`,
        `  line [${live.join(', ')}]`,
        '```',
        ''
    ];
}

;// CONCATENATED MODULE: ./src/reporting/hosts-table.ts
const RESULT = {
    deployed: '✅ deployed',
    'rolled-back': '↩️ rolled back',
    'auto-rolled-back': '↩️ rolled back by the watch',
    unchanged: '✔️ unchanged',
    failed: '❌ failed',
    cancelled: '⏹️ not switched',
    reverted: '↩️ switched back',
    skipped: '⏭️ not started',
    canary: '🐤 canary',
    preview: '👀 preview',
    maintenance: '🚧 maintenance',
    live: '✅ live',
    removed: '🗑️ removed'
};
/** The per-host rows of a run over several hosts (and the switch spread, and drift). */
function hostsTable(outcome, esc) {
    const hosts = outcome.hosts ?? [];
    // One host with several proxies (target swarm: a proxy task per node) has a spread too.
    if (hosts.length < 2)
        return outcome.switchSpreadMs === undefined ? [] : [`The proxy tasks switched within **${outcome.switchSpreadMs} ms** of each other (first to last).`, ''];
    const rows = ['| host | result | live | release | |', '|---|---|---|---|---|'];
    for (const h of hosts)
        rows.push(row(h, esc));
    rows.push('');
    if (outcome.switchSpreadMs !== undefined)
        rows.push(`The proxies of the hosts switched within **${outcome.switchSpreadMs} ms** of each other.`, '');
    if (outcome.drift)
        rows.push('> [!WARNING]', '> Drift: the hosts do not all have the same release live.', '');
    return rows;
}
function row(h, esc) {
    const live = h.color ? `${h.color} \`${esc(h.image ?? '')}\`` : '—';
    return `| ${esc(h.host)} | ${RESULT[h.result]} | ${live} | ${h.release ? `\`${esc(h.release)}\`` : ''} | ${esc(h.error ?? '')} |`;
}

;// CONCATENATED MODULE: ./src/reporting/summary.ts


const STEP_TITLES = {
    connect: 'Connect (SSH)',
    lock: 'Deploy lock',
    inspect: 'Read host state',
    pull: 'Pull image',
    shared: 'Shared services',
    'release-command': 'Release command',
    boot: 'Start container',
    healthy: 'Health gate',
    workers: 'Start workers',
    switch: 'Switch proxy',
    verify: 'Verify via proxy',
    watch: 'Watch (5xx share, health)',
    cleanup: 'Clean up'
};
const HEADLINES = {
    deployed: '✅ Deployed',
    'rolled-back': '↩️ Rolled back',
    'auto-rolled-back': '↩️ Rolled back automatically (watch failed):',
    unchanged: '✔️ Unchanged',
    maintenance: '🚧 Maintenance page on for',
    canary: '🐤 Canary started for',
    preview: '👀 Preview waiting for mode promote:',
    live: '✅ Back live:',
    removed: '🗑️ Removed',
    failed: '❌ Failed'
};
function escapeMarkdown(text) {
    return text.replace(/[|<>]/g, c => ({ '|': '\\|', '<': '&lt;', '>': '&gt;' })[c] ?? c);
}
function seconds(ms) {
    return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
/**
 * Replaces every secret value (and each line of a multi-line one) with ***, longest first, as the
 * runner does for the log. The runner never masks the job summary file, so this must.
 */
function maskSecrets(text, secrets) {
    const values = new Set();
    for (const s of secrets) {
        if (!s.trim())
            continue;
        values.add(s);
        // The same rule as parseInputs' registration: lines of 4 characters or more.
        for (const line of s.split(/\r?\n/))
            if (line.trim().length >= 4)
                values.add(line.trim());
    }
    let out = text;
    for (const v of [...values].sort((a, b) => b.length - a.length))
        out = out.split(v).join('***');
    return out;
}
/**
 * The job summary as Markdown: what is live, what is on standby, the timeline, and any failure.
 * `secrets` are the values registered with the runner as secrets (what parseInputs masked): a
 * crashed container's last log lines may print them, and the summary is not masked by the runner.
 */
function renderSummary(outcome, host, secrets = []) {
    // Masked before escaping, so a secret with | or < in it is still found.
    const esc = (text) => escapeMarkdown(maskSecrets(text, secrets));
    const lines = [];
    const verb = outcome.mode === 'status'
        ? 'Status of'
        : outcome.canarySteps?.length && outcome.result === 'auto-rolled-back'
            ? '↩️ Rolled back automatically (a canary step breached):'
            : HEADLINES[outcome.result];
    lines.push(`## ${outcome.mode === 'status' ? '🔎' : ''}${verb} \`${outcome.app}\` on ${esc(host)}`.replace('## 🔎', '## 🔎 '));
    lines.push('');
    lines.push(...hostsTable(outcome, esc));
    lines.push('| | color | image | |');
    lines.push('|---|---|---|---|');
    if (outcome.result === 'canary' && outcome.color) {
        // A canary serves beside the live release, which stays the live one until mode promote.
        lines.push(`| **Canary** | ${outcome.color} | \`${esc(outcome.image ?? '')}\` | since ${outcome.deployedAt ?? '?'} |`);
        lines.push(`| Live | ${outcome.previousColor ?? '?'} | \`${esc(outcome.previousImage ?? '')}\` | serves the other requests |`);
    }
    else if (outcome.result === 'preview' && outcome.color) {
        // A preview takes no live traffic: the live release serves every request until mode promote.
        lines.push(`| **Preview** | ${outcome.color} | \`${esc(outcome.image ?? '')}\` | ${previewWhere(outcome, esc)} |`);
        lines.push(`| Live | ${outcome.previousColor ?? '?'} | \`${esc(outcome.previousImage ?? '')}\` | serves every request until mode promote |`);
    }
    else if (outcome.result === 'removed') {
        const was = outcome.previousImage ? `\`${esc(outcome.previousImage)}\`` : 'nothing recorded';
        lines.push(`| **Removed** | ${outcome.previousColor ?? '—'} | ${was} | off the proxy and the host; its domains are free |`);
    }
    else if (outcome.color) {
        lines.push(`| **Live** | ${outcome.color} | \`${esc(outcome.image ?? '')}\` | since ${outcome.deployedAt ?? '?'} |`);
    }
    else {
        lines.push('| **Live** | — | nothing deployed | |');
    }
    if (outcome.preview && outcome.result !== 'preview') {
        const p = outcome.preview;
        lines.push(`| Preview | ${p.color} | \`${esc(p.image)}\` | waiting since ${esc(p.since)}: ${previewWhere(outcome, esc)} |`);
    }
    if (outcome.standby) {
        const s = outcome.standby;
        const how = s.state === 'running' ? 'running: instant rollback' : s.state === 'stopped' ? 'stopped: rollback starts it' : 'removed: rollback starts its image again';
        lines.push(`| Standby | ${s.color} | \`${esc(s.image)}\` | ${how} |`);
    }
    if (outcome.workers?.length) {
        const states = outcome.workers.map(w => `${esc(w.name)} (${w.state})`).join(', ');
        lines.push(`| Workers | ${outcome.color ?? ''} | ${outcome.workers.length} | ${states} |`);
    }
    lines.push('');
    if (outcome.served) {
        lines.push(outcome.served.ok ? `✅ ${esc(outcome.served.text)}` : `> [!WARNING]\n> ${esc(outcome.served.text)}`, '');
    }
    if (outcome.failure) {
        const f = outcome.failure;
        lines.push(`> [!CAUTION]`);
        lines.push(`> ${esc(f.reason)}`);
        lines.push('');
        if (f.container) {
            const facts = [f.exitCode !== undefined ? `exit code ${f.exitCode}` : '', f.oomKilled ? 'killed for lack of memory' : ''].filter(Boolean);
            lines.push(`**${esc(f.container)}**${facts.length ? ` (${facts.join(', ')})` : ''}, last log lines:`);
            lines.push('');
            lines.push('```text');
            lines.push(maskSecrets(f.logs ?? '(no output)', secrets).replace(/```/g, "'''"));
            lines.push('```');
            lines.push('');
        }
    }
    lines.push(...canaryStepsSection(outcome, esc));
    if (outcome.releases?.length)
        lines.push(...releasesTable(outcome, esc), '');
    if (outcome.steps.length) {
        lines.push('| step | time | |');
        lines.push('|---|---:|---|');
        for (const s of outcome.steps) {
            lines.push(`| ${s.ok ? '' : '❌ '}${STEP_TITLES[s.name]} | ${seconds(s.ms)} | ${esc(s.detail ?? '')} |`);
        }
        lines.push(`| **Total** | **${seconds(outcome.durationMs)}** | |`);
        lines.push('');
    }
    // And once more over everything (app, colors, numbers): nothing registered leaves unmasked.
    return maskSecrets(lines.join('\n') + '\n', secrets);
}
/**
 * The job summary of a run refused for its inputs: what was refused, and that nothing was touched
 * (inputs are checked before any connection). `app` is the raw input, shown only when it is a valid name.
 */
function renderInputErrorSummary(reason, app, secrets = []) {
    const esc = (text) => escapeMarkdown(maskSecrets(text, secrets));
    const name = app && /^[a-z0-9-]{1,63}$/.test(app) ? ` for \`${app}\`` : '';
    const lines = [
        `## ❌ Input refused${name}`,
        '',
        '> [!CAUTION]',
        `> ${esc(reason)}`,
        '',
        'Nothing was touched: cutover checks every input before it connects to any host, so no host was contacted and what was live is still live.',
        ''
    ];
    return maskSecrets(lines.join('\n') + '\n', secrets);
}
/** Where a waiting preview is reached, and what ends it. */
function previewWhere(outcome, esc) {
    const url = outcome.preview?.url;
    return `${url ? `at ${esc(url)}` : 'no preview-domains to reach it'}; mode promote makes it live, mode rollback discards it`;
}
/** The host's release ledger, newest first: what `to-release: N` counts back through. */
function releasesTable(outcome, esc) {
    const rows = ['<details' + (outcome.mode === 'status' ? ' open' : '') + '><summary>Releases recorded on the host (newest first)</summary>', ''];
    rows.push('| to-release | color | image | digest | live since | by |');
    rows.push('|---:|---|---|---|---|---|');
    outcome.releases.forEach((r, i) => {
        const digest = r.digest ? `\`${esc(r.digest.slice(r.digest.indexOf('@') + 1, r.digest.indexOf('@') + 20))}\`` : '';
        const who = [r.by.actor ? esc(r.by.actor) : '', r.by.commit ? `\`${esc(r.by.commit.slice(0, 7))}\`` : '', r.by.runUrl ? `[run](${r.by.runUrl})` : '']
            .filter(Boolean)
            .join(' ');
        const what = i === 0 ? 'live' : String(i);
        rows.push(`| ${what} | ${r.color} | \`${esc(r.image)}\`${r.kind === 'rollback' ? ' (rollback)' : ''} | ${digest} | ${esc(r.liveSince || '?')} | ${who} |`);
    });
    rows.push('', '</details>');
    return rows;
}

;// CONCATENATED MODULE: ./src/run-report.ts





function describeRelease(config, planned) {
    if (!planned)
        return `${config.mode === 'rollback' ? 'Rollback' : 'Deploy'} of ${config.app}`;
    const to = `${planned.color} ${planned.image}`;
    if (planned.preview)
        return `Preview of ${config.app}: ${to}, waiting for mode promote${planned.from ? ` (${planned.from.image} stays live)` : ''}`;
    if (config.mode === 'rollback') {
        return `Rollback of ${config.app} from ${planned.from ? `${planned.from.color} ${planned.from.image}` : 'nothing'} to ${to}`;
    }
    return `Deploy of ${config.app}: ${to}${planned.from ? ` (replacing ${planned.from.image})` : ''}`;
}
/**
 * What a run reports, once, on every exit path (issue #27): the outputs, the job summary, the error
 * and the GitHub deployment. The first exit path to finish reports; a later one (a second cancel
 * signal) waits for that same report instead of cutting it short.
 */
class RunReport {
    config;
    sink;
    timeline;
    runInfo;
    secrets;
    deployment;
    reporting;
    /** The engine of a one-host run, once made: for a failure outside its own outcome (a hard stop), what it knew serves. */
    engine;
    constructor(config, sink, timeline, runInfo, secrets) {
        this.config = config;
        this.sink = sink;
        this.timeline = timeline;
        this.runInfo = runInfo;
        this.secrets = secrets;
        this.log = sink.log;
    }
    log;
    /** Creates the run's GitHub deployment once (deploy, rollback, promote), when it is planned or when it fails. */
    startDeployment = async (planned) => {
        const { config } = this;
        // Maintenance changes what the proxy answers, not what is deployed: no GitHub deployment.
        const wanted = (config.mode === 'deploy' || config.mode === 'rollback' || config.mode === 'promote') && config.github.deployments;
        if (!wanted || this.deployment)
            return;
        this.deployment = GithubDeployment.forRun(config.github.token, this.runInfo, {
            app: config.app,
            image: planned?.image ?? config.image ?? config.toImage ?? '',
            // promote manual: the preview is a deployment of its own environment (<environment>-preview,
            // transient), so the app's environment keeps showing the release that serves it.
            environment: planned?.preview ? previewEnvironment(config.github.environment) : config.github.environment,
            ...(planned?.preview ? { transient: true } : {}),
            description: describeRelease(config, planned),
            // A rollback deploys the commit of the release it brings back, as the ledger recorded it.
            ref: planned?.restores?.by.commit
        }, this.log);
        await this.deployment?.create();
        await this.deployment?.setStatus('in_progress', describeRelease(config, planned));
    };
    /** A failed result that reports what the engine knew serves (nothing known: nothing reported as live). */
    failedResult(failure) {
        return { ...(this.engine?.snapshot() ?? { result: 'failed' }), result: 'failed', failure };
    }
    finish(result, infrastructureError, certificates = []) {
        return (this.reporting ??= this.write(result, infrastructureError, certificates));
    }
    async write(result, infrastructureError, certificates) {
        const { config, timeline } = this;
        const outcome = {
            ...result,
            hosts: result.hosts ?? [
                {
                    host: labelOf(config.ssh),
                    result: result.result,
                    color: result.color,
                    image: result.image,
                    release: result.release?.id,
                    error: result.failure?.reason
                }
            ],
            mode: config.mode,
            app: config.app,
            steps: timeline.steps,
            durationMs: timeline.elapsedMs()
        };
        this.sink.finished?.(outcome);
        await report(config, outcome, this.sink, infrastructureError, this.startDeployment, () => this.deployment, certificates, this.secrets);
    }
}
/** A run refused for its inputs: every output set, a job summary saying what was refused, the error. Nothing was touched. */
async function refuseInputs(reason, app, secrets, sink) {
    const outputs = outputsOf({ result: 'failed', failure: { reason }, hosts: [], durationMs: 0 }, undefined);
    for (const [name, value] of Object.entries(outputs))
        sink.setOutput(name, value);
    try {
        await sink.writeSummary(renderInputErrorSummary(reason, app, secrets));
    }
    catch (e) {
        sink.log.warning(`Could not write the job summary: ${e.message}`);
    }
    sink.setFailed(reason);
}
async function report(config, outcome, sink, infrastructureError, startDeployment, currentDeployment, certificates, secrets) {
    // Outputs, the summary and the error first: they must be written whatever happens to the API calls
    // below (a second cancel signal ends the process a few seconds later).
    const log = sink.log;
    for (const [name, value] of Object.entries(outputsOf(outcome, undefined)))
        sink.setOutput(name, value);
    try {
        const where = config.fleet ? `${config.fleet.hosts.length} hosts` : `${config.ssh.host}`;
        await sink.writeSummary(renderSummary(outcome, where, secrets) + renderCertificates(certificates));
    }
    catch (e) {
        log.warning(`Could not write the job summary: ${e.message}`);
    }
    if (outcome.failure) {
        const f = outcome.failure;
        if (f.logs !== undefined) {
            await log.group(`Last log lines of ${f.container ?? 'the container'}`, () => sink.untrusted(async (print) => print(f.logs ?? '')));
        }
        sink.setFailed(f.reason);
    }
    // A run can fail with a result other than 'failed' (auto-rolled-back: the watch switched back).
    const failed = outcome.result === 'failed' || outcome.failure !== undefined;
    if (failed)
        await startDeployment();
    const deployment = currentDeployment();
    if (deployment) {
        if (failed) {
            await deployment.setStatus(infrastructureError ? 'error' : 'failure', outcome.failure?.reason ?? 'failed');
        }
        else {
            const done = outcome.result === 'preview'
                ? `Preview of ${outcome.image} on ${outcome.color} waits for mode promote (${outcome.previousImage} stays live)`
                : outcome.result === 'canary'
                    ? `${outcome.image} serving ${config.strategy.canaryWeight} % of requests on ${outcome.color} (canary)`
                    : outcome.result === 'rolled-back'
                        ? `Rolled back to ${outcome.image} on ${outcome.color}`
                        : `${outcome.image} ${outcome.result === 'unchanged' ? 'already live' : 'live'} on ${outcome.color}`;
            await deployment.setStatus('success', done, outcome.result === 'preview' ? outcome.preview?.url : config.github.environmentUrl);
            // A canary serves beside the live release: the live release's deployment stays active until promote.
            if (outcome.result !== 'canary')
                await deployment.retireSuperseded();
        }
        if (deployment.id !== undefined)
            sink.setOutput('deployment-id', String(deployment.id));
    }
    const { token, environment } = config.github;
    if (outcome.previewEnded && config.github.deployments) {
        const why = outcome.previewEnded === 'promoted' ? `Promoted: live in ${environment}` : 'Discarded by mode rollback';
        await GithubDeployment.retireEnvironment(token, runContextFromEnv(), config.app, previewEnvironment(environment), why, log);
    }
    // mode remove makes no deployment of its own: the app's deployments stop saying it serves.
    if (config.mode === 'remove' && !failed && config.github.deployments) {
        const why = `Removed from ${config.fleet ? `${config.fleet.hosts.length} hosts` : config.ssh.host} by mode remove`;
        for (const env of [environment, previewEnvironment(environment)])
            await GithubDeployment.retireEnvironment(token, runContextFromEnv(), config.app, env, why, log);
    }
}

// EXTERNAL MODULE: ./src/reporting/workflow-commands.ts + 2 modules
var workflow_commands = __webpack_require__(371);
// EXTERNAL MODULE: ./src/reporting/log.ts
var log = __webpack_require__(48);
;// CONCATENATED MODULE: ./src/run-sink.ts



const actionsSink = {
    log: log/* actionsLog */._,
    setOutput: (name, value) => workflow_commands/* setOutput */.uH(name, value),
    writeSummary: async (markdown) => {
        await workflow_commands/* appendSummary */.fe(markdown);
    },
    setFailed: reason => workflow_commands/* setFailed */.C1(reason),
    // Workflow commands in the text (::error::, ::add-mask::, ...) must not be obeyed: the runner is
    // told to stop processing them until a token nobody can guess.
    untrusted: async (body) => {
        const token = (0,external_node_crypto_.randomBytes)(16).toString('hex');
        workflow_commands/* info */.pq(`::stop-commands::${token}`);
        try {
            return await body(line => workflow_commands/* info */.pq(line));
        }
        finally {
            workflow_commands/* info */.pq(`::${token}::`);
        }
    }
};

// EXTERNAL MODULE: ./src/start.ts + 27 modules
var start = __webpack_require__(4234);
;// CONCATENATED MODULE: ./src/main.ts
















/** After a cancel signal, how long the run may take to undo what it started before it exits anyway. */
const CANCEL_GRACE_MS = 6000;
/** The runner sends SIGKILL about this long after its first signal (SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that). */
const RUNNER_KILL_AFTER_MS = 10_000;
/** What a hard stop leaves for writing the report before the runner's SIGKILL. */
const REPORT_MS = 1500;
/** The longest a hard stop waits for the run to put back what it changed. */
const HARD_STOP_WAIT_MS = 5000;
/** A container's output streamed into a log group as it comes, its workflow commands not obeyed. */
function untrustedOutput(sink) {
    return (title, body) => sink.log.group(title, () => sink.untrusted(body));
}
/** Who runs, as the runner's environment says (the lock's holder, made by start.ts). */
function actionIdentity(holder) {
    const runInfo = runContextFromEnv();
    return {
        runInfo,
        runLabel: holder.run,
        author: { repository: runInfo.repository, runUrl: logUrlOf(runInfo), actor: process.env.GITHUB_ACTOR, commit: runInfo.sha },
        holder,
        secrets: start/* secrets */.O3,
        cancelledExitCode: 1
    };
}
function hostLabel(config) {
    return labelOf(config.ssh);
}
/** Holds what must be closed on every exit path: the lock, the Docker agent, the SSH connection. */
class Resources {
    ssh;
    docker;
    lock;
    /** A run over several hosts holds its own connections and locks. */
    fleet;
    closed = false;
    /** The shell on its way (opened beside the Docker checks): held once it comes, or ended at once if the run has closed by then. */
    adoptShell(shell) {
        shell.then(lock => (this.closed ? lock.release() : (this.lock = lock)), () => undefined);
        return shell;
    }
    close(log) {
        this.closed = true;
        this.fleet?.close();
        if (this.docker && log) {
            log.info(`Docker API: ${this.docker.agent.apiRequests} requests over ${this.docker.agent.channelsOpened} channels of 1 SSH connection`);
        }
        this.lock?.release();
        this.lock = undefined;
        this.docker?.agent.destroy();
        this.ssh?.close();
    }
}
/** How long the finished action's process may take to end by itself. */
const EXIT_GRACE_MS = 2000;
/** The Action's run, once start.ts has read the inputs (and, for one host, started connecting). */
async function run(started) {
    trace/* trace */.u.mark('main');
    if (!started.config) {
        await refuseInputs(started.refused, started.app, start/* secrets */.O3, actionsSink);
        return;
    }
    const end = await execute(started.config, actionsSink, actionIdentity(started.holder), started.early);
    if (end.cancelled)
        process.exit(1);
    // Reported, connection closed: nothing the run left behind (a pull it no longer awaits) holds the job's step.
    setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
}
/**
 * One run on the engine, for the Action and the command line alike: `sink` takes its report.
 * `early`: the connection and lock shell start.ts began for one host while the action loaded.
 */
async function execute(config, sink, identity, early) {
    const log = sink.log;
    const timeline = new Timeline(log);
    const resources = new Resources();
    const { runInfo, runLabel, author, holder } = identity;
    // Outputs, summary, error and GitHub deployment, once, whichever exit path comes first.
    const reports = new RunReport(config, sink, timeline, runInfo, identity.secrets);
    let engine;
    let fleet;
    const cancel = new Cancellation(log, resources, reports, () => ({ fleet, engine }), identity.cancelledExitCode);
    cancel.listen();
    let result;
    let infrastructureError = false;
    let certificates = [];
    /** The proxy, once known: a failed run still reports the certificates (a CA's refusal shows which name lacks one). */
    let reportRouter;
    try {
        if (config.fleet) {
            // Several hosts: one deployment, created once whichever host plans first.
            let planned;
            fleet = resources.fleet = new FleetRun({ config, log, run: runLabel, author, holder, onPlanned: p => (planned ??= reports.startDeployment(p)) }, timeline);
            if (cancel.signals > 0)
                fleet.abort('Cancelled');
            result = await cancel.track(fleet.run());
            certificates = await fleet.certificates();
        }
        else {
            ;
            ({ result, certificates } = await cancel.track(runOneHost({
                config,
                log,
                timeline,
                resources,
                holder,
                runLabel,
                author,
                reports,
                sink,
                early,
                cancelled: () => cancel.signals > 0,
                onRouter: router => (reportRouter = router),
                onEngine: made => (engine = made)
            })));
        }
    }
    catch (e) {
        infrastructureError = !(e instanceof ReleaseError) || e.infrastructure;
        // The engine's error says what serves (after an automatic rollback, what it left); errors before it ran know nothing live.
        const known = e instanceof ReleaseError && e.result ? e.result : reports.failedResult({ reason: '' });
        result = { ...known, failure: e instanceof ReleaseError ? e.failure : { reason: e.message } };
        // Hosts that could not be reached or locked: the hosts output still lists every host.
        if (e instanceof FleetConnectError)
            result = { ...result, hosts: e.hosts };
        // The cancel closed the connection before the release started: that, not the closed channel, is the reason.
        if (cancel.stoppedEarly && !(e instanceof ReleaseError))
            result = reports.failedResult({ reason: cancel.stoppedEarly });
        const lost = resources.ssh?.lost;
        if (lost) {
            // Whatever step noticed it, the cause is the connection: say so, and leave recovery to the next run.
            infrastructureError = true;
            result = { ...known, failure: { reason: `${lost.message}. Nothing more could be done on the host; the next run recovers what this one left.` } };
        }
        else if (reportRouter) {
            certificates = await reportCertificates(reportRouter, log);
        }
    }
    finally {
        const closing = (0,trace/* sinceStart */.B)();
        resources.close(log);
        trace/* trace */.u.span('close', closing);
    }
    // target swarm: how close together its proxy tasks switched (several hosts report their own spread).
    if (reportRouter?.lastSpreadMs !== undefined)
        result = { ...result, switchSpreadMs: result.switchSpreadMs ?? reportRouter.lastSpreadMs };
    await trace/* trace */.u.timed('report', () => reports.finish(result, infrastructureError, certificates));
    cancel.stop();
    return { result, cancelled: cancel.signals > 0 };
}
/**
 * The runner sends SIGINT on cancel, then SIGTERM 7.5 s later. The first signal asks the engine to
 * stop at its next safe point, undoing what it started (nothing half-done is ever live: the proxy
 * switches only to a healthy color); a second signal, or the grace running out, ends the run now,
 * once the report (outputs, summary, error) is written.
 */
class Cancellation {
    log;
    resources;
    reports;
    running;
    exitCode;
    signals = 0;
    /** Set when a signal came before the release started: the reason the run fails with. */
    stoppedEarly;
    /** The run in flight (its undo included): a hard stop gives it a moment to put the host back. */
    work;
    firstAt;
    stopping = false;
    constructor(log, resources, reports, running, exitCode = 1) {
        this.log = log;
        this.resources = resources;
        this.reports = reports;
        this.running = running;
        this.exitCode = exitCode;
    }
    listen() {
        process.on('SIGINT', this.onSignal);
        process.on('SIGTERM', this.onSignal);
    }
    stop() {
        process.removeListener('SIGINT', this.onSignal);
        process.removeListener('SIGTERM', this.onSignal);
    }
    /** Follows the run in flight; returns it unchanged. */
    track(work) {
        this.work = work;
        return work;
    }
    onSignal = (signal) => {
        this.signals++;
        this.firstAt ??= Date.now();
        if (this.signals > 1)
            return this.hardStop(`Cancelled (${signal} after an earlier signal): stopped at once; the next run recovers what this one left.`);
        this.log.warning(`Received ${signal}: stopping. The live color is unchanged unless the switch had already completed.`);
        const { fleet, engine } = this.running();
        if (fleet)
            fleet.abort(`Cancelled (${signal})`);
        else if (engine)
            engine.abort(`Cancelled (${signal})`);
        else {
            // connecting or waiting for the lock: nothing to undo, and the failure that follows is this cancel
            this.stoppedEarly = `Cancelled (${signal}) before the release started (while connecting, locking or reading the host): nothing was changed`;
            this.resources.close();
        }
        setTimeout(() => this.hardStop(`Cancelled (${signal}): cleanup did not finish within ${CANCEL_GRACE_MS / 1000} s; the next run recovers what this one left.`), CANCEL_GRACE_MS).unref();
    };
    hardStop(why) {
        if (this.stopping)
            return;
        this.stopping = true;
        // The first signal made the run undo what it started (a set-aside standby put back, the new
        // container removed): closing the connection now would leave that half done (issue #22). It
        // gets what is left of the runner's grace (SIGKILL ~10 s after the first signal), then the run
        // reports as usual; if it has not settled by then, this reports what is known and exits.
        const wait = Math.max(0, Math.min(HARD_STOP_WAIT_MS, (this.firstAt ?? Date.now()) + RUNNER_KILL_AFTER_MS - REPORT_MS - Date.now()));
        const settled = this.work?.then(() => true, () => true);
        if (!settled || wait === 0)
            return this.stopNow(why);
        this.log.warning(`Stopping now: giving the run up to ${(wait / 1000).toFixed(1)} s to put back what it changed`);
        const timer = new Promise(resolve => setTimeout(() => resolve(false), wait).unref());
        void Promise.race([settled, timer]).then(done => {
            // Settled: execute() writes the report and exits; this only makes sure the process ends.
            if (done)
                setTimeout(() => process.exit(1), REPORT_MS).unref();
            else
                this.stopNow(why);
        });
    }
    stopNow(why) {
        this.resources.close();
        // Cancelled before the release started: saying so is more use than "stopped at once".
        const reason = (!this.running().engine && this.stoppedEarly) || why;
        void this.reports.finish(this.reports.failedResult({ reason }), true).finally(() => process.exit(this.exitCode));
        setTimeout(() => process.exit(this.exitCode), 3000).unref();
    }
}
/** One host: connect, lock (mode status: a lock-free shell), settle the proxy, run the mode's engine call. */
async function runOneHost(run) {
    const { config, log, timeline, resources, holder, runLabel, author, reports, sink, early, cancelled, onRouter, onEngine } = run;
    let shellOpening;
    const connect = async (note) => {
        const ssh = (resources.ssh = await (early?.connecting ?? trace/* trace */.u.timed('ssh handshake', () => transport_ssh/* SshSession */.vM.connect(config.ssh))));
        ssh.onLost(e => log.warning(e.message));
        // The lock's shell starts on the host (an sshd session, the user's shell and its start-up files:
        // often the slowest call of a run) while Docker answers and the proxy is read; nothing changes on
        // the host before the lock step has it.
        shellOpening = resources.adoptShell(early?.shell ?? trace/* trace */.u.timed('lock shell', () => (0,start/* openShell */.n7)(ssh, config, holder, log)));
        resources.docker = dockerOverSsh(ssh, config.dockerSocket);
        const version = await resources.docker.docker.version();
        note(`Docker ${version.Version} (API ${version.ApiVersion})`);
        log.info(`Connected to ${ssh.description}: Docker ${version.Version} (API ${version.ApiVersion}, ${version.Os}/${version.Arch})`);
    };
    await timeline.step('connect', `Connecting to ${hostLabel(config)}`, connect, early?.since);
    const ssh = resources.ssh;
    const docker = resources.docker.docker;
    const web = config.roles?.web !== false;
    // Reads only: which proxy the host runs, checked against the inputs while the lock's shell starts.
    const proxy = config.swarm ? swarmProxySettings(config, log) : await settleProxy(docker, config, log);
    // The shell that holds the lock also serves the ledger's reads and writes (mode status reads without the lock).
    // rebuild-ledger writes the ledger: under the lock, as a deploy would.
    const shell = (resources.lock = await ((0,start/* takesLock */.O4)(config)
        ? timeline.step('lock', `Taking the deploy lock of ${config.app}`, () => shellOpening)
        : shellOpening));
    const adapters = hostAdapters(config, proxy, { ssh, docker, shell }, holder, log);
    if (web)
        onRouter(adapters.router);
    const deps = {
        // The engine gets its slice: no SSH key, GitHub token or registry password is carried into it.
        config: engineConfigOf(config),
        ...adapters,
        log,
        timeline,
        run: runLabel,
        author,
        onPlanned: reports.startDeployment,
        output: untrustedOutput(sink)
    };
    const engine = (reports.engine = new ReleaseEngine(deps, adapters.colors));
    onEngine(engine);
    if (cancelled())
        engine.abort('Cancelled');
    const result = await modes/* MODES */.F[config.mode].run(engine, config);
    return { result, certificates: web ? await reportCertificates(adapters.router, log) : [] };
}


/***/ }),

/***/ 5232:
/***/ ((module) => {

// Stand-in bundled instead of @grpc/grpc-js, @grpc/proto-loader and protobufjs (see the "paths"
// in tsconfig.json, which ncc applies to every module it resolves). dockerode requires them only
// for BuildKit build sessions and build-progress decoding; cutover never builds images. dockerode
// loads its session module at start-up, so this must load without error; any use throws.

module.exports = new Proxy(
  {},
  {
    get(_target, key) {
      // Answer the probes of module interop helpers instead of throwing at require time.
      if (typeof key === 'symbol' || key === '__esModule' || key === 'default' || key === 'then') return undefined
      throw new Error(`cutover is bundled without gRPC and protobuf (used by dockerode for BuildKit builds only): ${String(key)} is not available`)
    }
  }
)


/***/ })

};
