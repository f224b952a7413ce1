// A slow origin for the bench (bench/nginxconf.py): hold a page 50-300 ms, then serve its file.
// The hold is fixed per URI (FNV-1a of $request_uri, the same function as nginxconf.hold_ms), so
// every tool and run meets the same latencies. A timer costs nginx no CPU while it waits.
function holdMs(uri) {
    var bytes = Buffer.from(uri, 'utf8');
    var value = 0x811c9dc5;
    for (var i = 0; i < bytes.length; i++) {
        value = Math.imul(value ^ bytes[i], 0x01000193) >>> 0;
    }
    return 50 + value % 251;
}

function hold(r) {
    setTimeout(function () { r.internalRedirect('/__held' + r.uri); }, holdMs(r.variables.request_uri));
}

export default { hold, holdMs };
