/*
 * Editor helpers of node-red-contrib-things-stack, shared by every dialog of the package (and by node sets
 * of other packages that want them): Node-RED serves this file from the package's resources/ directory,
 * nodes/ttn.html loads it with <script src="resources/node-red-contrib-things-stack/ttn-editor.js">.
 *
 *   TtnEditor.devicePicker({ input: '#node-input-deviceId', app: '#node-input-app' })
 *     A Device ID field that offers the application's devices (ID, name, last seen), searched on the
 *     server as you type, with free typing still allowed; when the list is empty, the row below says why.
 *   TtnEditor.checkConnection({ node: this, container: '#ttn-app-check' })
 *     The ttn-app dialog's "Check connection" button and the list of its steps.
 *
 * Texts come from the package's catalog (locales/en-US/ttn.json, "ttnApi"). Nothing here ever sees a
 * stored key: the admin endpoints use the deployed node's credentials.
 */
(function () {
    'use strict';

    var NS = 'node-red-contrib-things-stack/ttn:';
    var PAGE = 50;
    var DEBOUNCE_MS = 250;

    function t(key, opts) {
        return RED._(NS + key, opts);
    }

    function lastSeenText(iso) {
        if (!iso) {
            return t('ttnApi.devices.never');
        }
        var d = new Date(iso);
        if (isNaN(d.getTime())) {
            return '';
        }
        return t('ttnApi.devices.lastSeen', { time: d.toLocaleString() });
    }

    function completion(device) {
        var label = $('<div class="ttn-device-option"></div>');
        $('<span class="ttn-device-id"></span>').text(device.id).appendTo(label);
        if (device.name) {
            $('<span class="ttn-device-name"></span>').text(device.name).appendTo(label);
        }
        $('<span class="ttn-device-seen"></span>').text(lastSeenText(device.lastSeen)).appendTo(label);
        return { value: device.id, label: label };
    }

    /**
     * Turn a text input into a device picker. options.input: the Device ID input (selector or jQuery);
     * options.app: the select of the ttn-app config node. Returns { refresh() } for tests and callers.
     */
    function devicePicker(options) {
        var $input = $(options.input);
        var $app = $(options.app);
        if (!$input.length || $input.data('ttnDevicePicker')) {
            return $input.data('ttnDevicePicker');
        }
        var $row = $input.closest('.form-row');
        var $button = $('<button type="button" class="red-ui-button ttn-device-pick"><i class="fa fa-list-ul"></i></button>')
            .attr('title', t('ttnApi.devices.button'))
            .attr('aria-label', t('ttnApi.devices.button'));
        $input.addClass('ttn-device-input').after($button);
        var $hintRow = $('<div class="form-row ttn-form-row-indent ttn-device-hint-row"><span class="ttn-form-hint ttn-device-hint"></span></div>');
        $hintRow.insertAfter($row).hide();
        var $hint = $hintRow.find('.ttn-device-hint');
        var timer = null;
        var sequence = 0;

        function hint(text) {
            $hint.text(text || '');
            $hintRow.toggle(!!text);
        }

        function appNode() {
            var v = $app.val();
            return v && v !== '_ADD_' && v !== 'none' ? v : '';
        }

        function search(value, done) {
            clearTimeout(timer);
            var id = appNode();
            if (!id) {
                hint(t('ttnApi.devices.noApp'));
                done([]);
                return;
            }
            var mine = ++sequence;
            timer = setTimeout(function () {
                hint(t('ttnApi.devices.loading'));
                $.ajax({
                    url: 'ttn-app/' + encodeURIComponent(id) + '/devices',
                    data: { search: String(value || '').trim(), limit: PAGE },
                    dataType: 'json'
                }).done(function (r) {
                    if (mine !== sequence) {
                        return;
                    }
                    var devices = (r && r.devices) || [];
                    if (devices.length === 0) {
                        // The runtime says why the list is empty (not deployed, rights, offline), or nothing matched.
                        hint(r && r.message ? r.message : t('ttnApi.devices.none'));
                    } else if (r.total > devices.length) {
                        hint(t('ttnApi.devices.count', { shown: devices.length, total: r.total }));
                    } else {
                        hint('');
                    }
                    done(devices.map(completion));
                }).fail(function (xhr) {
                    if (mine !== sequence) {
                        return;
                    }
                    var body = xhr.responseJSON;
                    hint(body && body.message ? body.message : t('ttnApi.devices.failed', { error: xhr.statusText || xhr.status }));
                    done([]);
                });
            }, DEBOUNCE_MS);
        }

        $input.autoComplete({ search: search, minLength: 0 });
        function open() {
            $input.trigger('focus');
            // autoComplete searches on keyup; a neutral key (arrow down) asks for the list as it stands.
            $input.trigger($.Event('keyup', { keyCode: 40, which: 40 }));
        }
        $button.on('click', function (evt) {
            evt.preventDefault();
            open();
        });
        $app.on('change', function () {
            hint('');
        });
        var api = { open: open, hint: function () { return $hint.text(); } };
        $input.data('ttnDevicePicker', api);
        return api;
    }

    /**
     * The "Check connection" button of the ttn-app dialog. options.node: the config node being edited;
     * options.container: where the button and the steps go; options.values(): the dialog's current values
     * (never the stored key: an untouched password field sends nothing and the runtime uses the stored one).
     */
    function checkConnection(options) {
        var $container = $(options.container);
        var $button = $('<button type="button" class="red-ui-button ttn-check-button"><i class="fa fa-stethoscope"></i> </button>');
        $button.append($('<span></span>').text(t('ttnApi.check.button')));
        var $summary = $('<span class="ttn-check-summary"></span>');
        var $steps = $('<ol class="ttn-check-steps"></ol>');
        $container.empty().append($button, $summary, $steps);

        function show(report) {
            $steps.empty();
            (report.steps || []).forEach(function (s) {
                var state = s.skipped ? 'skipped' : !s.ok ? 'fail' : s.warning ? 'warn' : 'ok';
                var icon = { ok: 'fa-check', fail: 'fa-times', warn: 'fa-exclamation-triangle', skipped: 'fa-minus' }[state];
                var $li = $('<li class="ttn-check-step"></li>').addClass('ttn-check-' + state).attr('data-step', s.name);
                $('<i class="fa"></i>').addClass(icon).appendTo($li);
                $('<span class="ttn-check-name"></span>').text(t('ttnApi.check.step.' + s.name)).appendTo($li);
                $('<span class="ttn-check-message"></span>').text(s.message).appendTo($li);
                $steps.append($li);
            });
            $summary.text(report.ok ? t('ttnApi.check.ok') : t('ttnApi.check.failed'))
                .toggleClass('ttn-check-summary-ok', !!report.ok)
                .toggleClass('ttn-check-summary-fail', !report.ok);
        }

        $button.on('click', function (evt) {
            evt.preventDefault();
            var body = (options.values || appDialogValues)(options.node);
            body.id = options.node.id;
            if (!body.apiKey && !(options.node.credentials || {}).has_apiKey) {
                $steps.empty();
                $summary.text(t('ttnApi.check.undeployedKey')).addClass('ttn-check-summary-fail');
                return;
            }
            $button.prop('disabled', true);
            $steps.empty();
            $summary.removeClass('ttn-check-summary-ok ttn-check-summary-fail').text(t('ttnApi.check.running'));
            $.ajax({
                url: 'ttn-app/check',
                type: 'POST',
                contentType: 'application/json',
                data: JSON.stringify(body),
                dataType: 'json'
            }).done(show).fail(function (xhr) {
                var body = xhr.responseJSON;
                $summary.text(t('ttnApi.check.error', { error: (body && body.error) || xhr.statusText || xhr.status }))
                    .addClass('ttn-check-summary-fail');
            }).always(function () {
                $button.prop('disabled', false);
            });
        });
    }

    /** The ttn-app dialog's values as the runtime's clientArguments reads them; the key only when typed. */
    function appDialogValues(node) {
        var v = function (field) {
            var $f = $('#node-config-input-' + field);
            return $f.length ? $f.val() : node[field];
        };
        var checked = function (field) {
            var $f = $('#node-config-input-' + field);
            return $f.length ? $f.is(':checked') : node[field] === true || node[field] === 'true';
        };
        var body = {
            appId: String(v('appId') || '').trim(),
            tenant: String(v('tenant') || '').trim(),
            server: String(v('server') || '').trim(),
            tls: checked('tls'),
            api: v('api') || 'v3',
            broker: v('broker') || 'tts',
            username: v('username') || '',
            topicPrefix: v('topicPrefix') || '',
            protocolVersion: v('protocolVersion') || '4',
            sharedGroup: v('sharedGroup') || '',
            recover: checked('recover'),
            recoverUrl: v('recoverUrl') || '',
            lookback: v('lookback'),
            apiUrl: String(v('apiUrl') || '').trim(),
            needs: needsOf(node.id)
        };
        var tlsConfig = v('tlsConfig');
        if (body.tls && tlsConfig && tlsConfig !== '_ADD_') {
            body.tlsConfig = tlsConfig;
        }
        var key = $('#node-config-input-apiKey').val();
        if (key && key !== '__PWRD__') {
            body.apiKey = key.trim();
        }
        return body;
    }

    /** What the nodes that use config node `id` need from the key, counted in the editor (undeployed edits too). */
    function needsOf(id) {
        var needs = { readTraffic: false, writeDownlinks: false, readDevices: false };
        RED.nodes.eachNode(function (n) {
            if (n.app !== id) {
                return;
            }
            if (n.type === 'ttn-downlink') {
                needs.writeDownlinks = true;
            }
            needs.readTraffic = true;
            if (n.type === 'ttn-uplink' && (n.details === true || n.details === 'true')) {
                needs.readDevices = true;
            }
        });
        return needs;
    }

    window.TtnEditor = window.TtnEditor || {};
    window.TtnEditor.devicePicker = devicePicker;
    window.TtnEditor.checkConnection = checkConnection;
    window.TtnEditor.needsOf = needsOf;
    window.TtnEditor.appDialogValues = appDialogValues;
})();
