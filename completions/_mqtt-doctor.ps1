
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'mqtt-doctor' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'mqtt-doctor'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'mqtt-doctor' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Diagnose the connection to a broker, stage by stage (DNS, TCP, proxy, TLS, WebSocket, credentials, MQTT)')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Run the doctor again and again, for failures that come and go: a line per run, then a summary (success ratios, latency percentiles, root causes, flaps)')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Explain a finding id (`explain tcp.refused`) or a CONNACK code (`explain 134`), offline')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Work with tokens (JWTs, Kubernetes ServiceAccount tokens) offline')
            [CompletionResult]::new('presets', 'presets', [CompletionResultType]::ParameterValue, 'List the presets (--preset NAME) and the defaults each one sets')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the JSON Schema (2020-12) of the JSON reports: doctor''s, several targets'', token inspect''s (also in docs/report.schema.json)')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve Prometheus metrics: each scrape of /probe?target=URL&module=NAME runs one doctor check, with a config file''s profiles as the modules')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print a man page (roff): the top page, or a command''s (`man doctor`, `man token-inspect`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mqtt-doctor;doctor' {
            [CompletionResult]::new('--preset', '--preset', [CompletionResultType]::ParameterName, 'Defaults for a broker family: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (`mqtt-doctor presets` shows them); any option overrides them')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file with settings and named profiles [default: ./mqtt-doctor.toml when present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'The profile of the config file to use ([profiles.NAME])')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s')
            [CompletionResult]::new('--deadline', '--deadline', [CompletionResultType]::ParameterName, 'Time allowed for the whole run; no step outlives it')
            [CompletionResult]::new('--dns-server', '--dns-server', [CompletionResultType]::ParameterName, 'Ask this DNS server (ADDR or ADDR:PORT) instead of the ones in /etc/resolv.conf')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Check up to N of the addresses the target''s name resolves to, each over its own connection (TCP, TLS, MQTT, topics), and compare them; 1 checks one address, as a client does')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Also write the report of this same run to FILE, in FORMAT (text, json, junit); repeatable, e.g. --output junit=report.xml --output json=report.json. Text in a file has no colours')
            [CompletionResult]::new('--annotations', '--annotations', [CompletionResultType]::ParameterName, 'GitHub Actions annotations (::error::/::warning:: lines on stderr); `auto` writes them when GITHUB_ACTIONS=true')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Read every well-known file below this directory: etc/resolv.conf, etc/hosts, the ServiceAccount files, the preset''s token and CA. E.g. a copy of a pod''s filesystem, or /proc/1/root from `kubectl debug --target`; the system resolver is then not consulted')
            [CompletionResult]::new('--k8s-resources', '--k8s-resources', [CompletionResultType]::ParameterName, 'Azure IoT Operations'' resources to check the client against before connecting: what `kubectl get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services -A -o json` (or -o yaml) prints, or - to read it from standard input. The host must be a listener''s Service, the port one of its ports with the scheme''s TLS mode, the token''s audience one its BrokerAuthentication accepts, the client id and --publish/--subscribe topics allowed by its BrokerAuthorization')
            [CompletionResult]::new('--k8s-namespace', '--k8s-namespace', [CompletionResultType]::ParameterName, 'The namespace --k8s-api lists the resources in: where the broker runs')
            [CompletionResult]::new('--cafile', '--cafile', [CompletionResultType]::ParameterName, 'CA certificates (PEM bundle) to trust instead of the system roots')
            [CompletionResult]::new('--capath', '--capath', [CompletionResultType]::ParameterName, 'Directory of CA certificates (PEM files) to trust instead of the system roots')
            [CompletionResult]::new('--servername', '--servername', [CompletionResultType]::ParameterName, 'Name to send as SNI and to check the certificate against (default: the target host)')
            [CompletionResult]::new('--alpn', '--alpn', [CompletionResultType]::ParameterName, 'ALPN protocols to offer, comma-separated or repeated (e.g. mqtt)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM, leaf first) for mutual TLS; needs --key')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate; needs --cert')
            [CompletionResult]::new('--expiry-warning', '--expiry-warning', [CompletionResultType]::ParameterName, 'Warn when the broker''s certificate expires within this time')
            [CompletionResult]::new('--save-chain', '--save-chain', [CompletionResultType]::ParameterName, 'Write the certificate chain the broker presents to FILE as PEM, leaf first, trusted or not (what `openssl s_client -showcerts` is used for); with several nodes, one file per node, its address in the name')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Username to send in CONNECT')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Username to send in CONNECT')
            [CompletionResult]::new('-P', '-P ', [CompletionResultType]::ParameterName, 'Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'File holding the password (one line)')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token (a JWT such as a Kubernetes ServiceAccount token), or - to read it from stdin')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the token, e.g. /var/run/secrets/tokens/broker-sat')
            [CompletionResult]::new('--audience', '--audience', [CompletionResultType]::ParameterName, 'Audience the broker expects in the token''s aud claim (Azure IoT Operations: aio-internal)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer the broker expects in the token''s iss claim')
            [CompletionResult]::new('--jwt-secret', '--jwt-secret', [CompletionResultType]::ParameterName, 'HMAC secret to check an HS256/HS384/HS512 signature with')
            [CompletionResult]::new('--jwt-key', '--jwt-key', [CompletionResultType]::ParameterName, 'PEM public key or certificate to check an RS*/PS*/ES*/EdDSA signature with')
            [CompletionResult]::new('--jwks', '--jwks', [CompletionResultType]::ParameterName, 'JWKS file to check the signature with (the key is picked by kid)')
            [CompletionResult]::new('--token-expiry-warning', '--token-expiry-warning', [CompletionResultType]::ParameterName, 'Warn when the token expires within this time')
            [CompletionResult]::new('--mqtt-version', '--mqtt-version', [CompletionResultType]::ParameterName, 'MQTT version: 5, 3.1.1, or auto (5, then 3.1.1 if the broker only speaks that, or stays silent on MQTT 5)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Client id to connect with (default: a random mqtt-doctor-… id). A device connected with the same id is disconnected by the broker')
            [CompletionResult]::new('--client-id', '--client-id', [CompletionResultType]::ParameterName, 'Client id to connect with (default: a random mqtt-doctor-… id). A device connected with the same id is disconnected by the broker')
            [CompletionResult]::new('--keepalive', '--keepalive', [CompletionResultType]::ParameterName, 'Keepalive to announce, in seconds. During --hold the doctor sends a PINGREQ whenever this long passes without it sending anything, as a client does')
            [CompletionResult]::new('--auth-method', '--auth-method', [CompletionResultType]::ParameterName, 'MQTT 5 enhanced authentication method (e.g. K8S-SAT); the token is sent as its data')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'The broker''s family, for causes and fixes in its own terms: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (default: recognised from what the broker shows, with the confidence the report states)')
            [CompletionResult]::new('--publish', '--publish', [CompletionResultType]::ParameterName, 'After connecting, publish at QoS 1 to TOPIC and check the broker allows it (repeatable)')
            [CompletionResult]::new('--subscribe', '--subscribe', [CompletionResultType]::ParameterName, 'After connecting, subscribe to FILTER and check the broker allows it (repeatable); with --publish, a message must come back through a matching subscription')
            [CompletionResult]::new('--hold', '--hold', [CompletionResultType]::ParameterName, 'Keep the connection this long after CONNACK and report whether the broker drops it (default: one PINGREQ round trip). A PINGREQ goes out whenever the keepalive passes without the doctor sending anything, so a hold longer than a load balancer''s idle timeout, with --keepalive below it, checks that the keepalive keeps connections alive')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Tunnel through this proxy: http://[USER:PASS@]HOST:PORT (HTTP CONNECT), socks5://… or socks5h://… (the proxy resolves the broker''s name) [default: https_proxy, HTTPS_PROXY, all_proxy or ALL_PROXY, unless NO_PROXY lists the broker or it is on this machine]')
            [CompletionResult]::new('--ws-path', '--ws-path', [CompletionResultType]::ParameterName, 'HTTP path of the WebSocket endpoint, for ws:// and wss:// targets that name none [default: /mqtt]')
            [CompletionResult]::new('--ws-header', '--ws-header', [CompletionResultType]::ParameterName, 'Extra header for the WebSocket upgrade, as ''Name: value'' (repeatable). Values are never shown, only their length and fingerprint')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The targets are the nodes of one cluster (e.g. each node''s own address behind a load balancer): check each, then compare their failures, certificates and capabilities')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures (exit code 1)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show passing findings with their evidence too')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show passing findings with their evidence too')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only failures (text format): nothing at all when the broker is healthy')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only failures (text format): nothing at all when the broker is healthy')
            [CompletionResult]::new('--k8s-api', '--k8s-api', [CompletionResultType]::ParameterName, 'In a pod: fetch those resources from the Kubernetes API server itself, with the pod''s ServiceAccount token and CA (at most five list requests, in --k8s-namespace), and check the client against them as --k8s-resources does. The ServiceAccount needs a Role with get and list on brokers, brokerlisteners, brokerauthentications, brokerauthorizations (mqttbroker.iot.azure.com) and services (see docs/guide/pod.md)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even though the target''s scheme is plain (mqtt://, tcp://)')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the broker''s certificate (reported as a warning, never silently)')
            [CompletionResult]::new('--jwt-secret-base64', '--jwt-secret-base64', [CompletionResultType]::ParameterName, 'The --jwt-secret is base64-encoded (EMQX''s secret_base64_encoded)')
            [CompletionResult]::new('--no-proxy', '--no-proxy', [CompletionResultType]::ParameterName, 'Connect directly, ignoring the proxy environment variables')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mqtt-doctor;watch' {
            [CompletionResult]::new('--preset', '--preset', [CompletionResultType]::ParameterName, 'Defaults for a broker family: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (`mqtt-doctor presets` shows them); any option overrides them')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file with settings and named profiles [default: ./mqtt-doctor.toml when present]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'The profile of the config file to use ([profiles.NAME])')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s')
            [CompletionResult]::new('--deadline', '--deadline', [CompletionResultType]::ParameterName, 'Time allowed for the whole run; no step outlives it')
            [CompletionResult]::new('--dns-server', '--dns-server', [CompletionResultType]::ParameterName, 'Ask this DNS server (ADDR or ADDR:PORT) instead of the ones in /etc/resolv.conf')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Check up to N of the addresses the target''s name resolves to, each over its own connection (TCP, TLS, MQTT, topics), and compare them; 1 checks one address, as a client does')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Also write the report of this same run to FILE, in FORMAT (text, json, junit); repeatable, e.g. --output junit=report.xml --output json=report.json. Text in a file has no colours')
            [CompletionResult]::new('--annotations', '--annotations', [CompletionResultType]::ParameterName, 'GitHub Actions annotations (::error::/::warning:: lines on stderr); `auto` writes them when GITHUB_ACTIONS=true')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Read every well-known file below this directory: etc/resolv.conf, etc/hosts, the ServiceAccount files, the preset''s token and CA. E.g. a copy of a pod''s filesystem, or /proc/1/root from `kubectl debug --target`; the system resolver is then not consulted')
            [CompletionResult]::new('--k8s-resources', '--k8s-resources', [CompletionResultType]::ParameterName, 'Azure IoT Operations'' resources to check the client against before connecting: what `kubectl get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services -A -o json` (or -o yaml) prints, or - to read it from standard input. The host must be a listener''s Service, the port one of its ports with the scheme''s TLS mode, the token''s audience one its BrokerAuthentication accepts, the client id and --publish/--subscribe topics allowed by its BrokerAuthorization')
            [CompletionResult]::new('--k8s-namespace', '--k8s-namespace', [CompletionResultType]::ParameterName, 'The namespace --k8s-api lists the resources in: where the broker runs')
            [CompletionResult]::new('--cafile', '--cafile', [CompletionResultType]::ParameterName, 'CA certificates (PEM bundle) to trust instead of the system roots')
            [CompletionResult]::new('--capath', '--capath', [CompletionResultType]::ParameterName, 'Directory of CA certificates (PEM files) to trust instead of the system roots')
            [CompletionResult]::new('--servername', '--servername', [CompletionResultType]::ParameterName, 'Name to send as SNI and to check the certificate against (default: the target host)')
            [CompletionResult]::new('--alpn', '--alpn', [CompletionResultType]::ParameterName, 'ALPN protocols to offer, comma-separated or repeated (e.g. mqtt)')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM, leaf first) for mutual TLS; needs --key')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Private key (PEM) of the client certificate; needs --cert')
            [CompletionResult]::new('--expiry-warning', '--expiry-warning', [CompletionResultType]::ParameterName, 'Warn when the broker''s certificate expires within this time')
            [CompletionResult]::new('--save-chain', '--save-chain', [CompletionResultType]::ParameterName, 'Write the certificate chain the broker presents to FILE as PEM, leaf first, trusted or not (what `openssl s_client -showcerts` is used for); with several nodes, one file per node, its address in the name')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Username to send in CONNECT')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Username to send in CONNECT')
            [CompletionResult]::new('-P', '-P ', [CompletionResultType]::ParameterName, 'Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'File holding the password (one line)')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token (a JWT such as a Kubernetes ServiceAccount token), or - to read it from stdin')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the token, e.g. /var/run/secrets/tokens/broker-sat')
            [CompletionResult]::new('--audience', '--audience', [CompletionResultType]::ParameterName, 'Audience the broker expects in the token''s aud claim (Azure IoT Operations: aio-internal)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer the broker expects in the token''s iss claim')
            [CompletionResult]::new('--jwt-secret', '--jwt-secret', [CompletionResultType]::ParameterName, 'HMAC secret to check an HS256/HS384/HS512 signature with')
            [CompletionResult]::new('--jwt-key', '--jwt-key', [CompletionResultType]::ParameterName, 'PEM public key or certificate to check an RS*/PS*/ES*/EdDSA signature with')
            [CompletionResult]::new('--jwks', '--jwks', [CompletionResultType]::ParameterName, 'JWKS file to check the signature with (the key is picked by kid)')
            [CompletionResult]::new('--token-expiry-warning', '--token-expiry-warning', [CompletionResultType]::ParameterName, 'Warn when the token expires within this time')
            [CompletionResult]::new('--mqtt-version', '--mqtt-version', [CompletionResultType]::ParameterName, 'MQTT version: 5, 3.1.1, or auto (5, then 3.1.1 if the broker only speaks that, or stays silent on MQTT 5)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Client id to connect with (default: a random mqtt-doctor-… id). A device connected with the same id is disconnected by the broker')
            [CompletionResult]::new('--client-id', '--client-id', [CompletionResultType]::ParameterName, 'Client id to connect with (default: a random mqtt-doctor-… id). A device connected with the same id is disconnected by the broker')
            [CompletionResult]::new('--keepalive', '--keepalive', [CompletionResultType]::ParameterName, 'Keepalive to announce, in seconds. During --hold the doctor sends a PINGREQ whenever this long passes without it sending anything, as a client does')
            [CompletionResult]::new('--auth-method', '--auth-method', [CompletionResultType]::ParameterName, 'MQTT 5 enhanced authentication method (e.g. K8S-SAT); the token is sent as its data')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'The broker''s family, for causes and fixes in its own terms: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (default: recognised from what the broker shows, with the confidence the report states)')
            [CompletionResult]::new('--publish', '--publish', [CompletionResultType]::ParameterName, 'After connecting, publish at QoS 1 to TOPIC and check the broker allows it (repeatable)')
            [CompletionResult]::new('--subscribe', '--subscribe', [CompletionResultType]::ParameterName, 'After connecting, subscribe to FILTER and check the broker allows it (repeatable); with --publish, a message must come back through a matching subscription')
            [CompletionResult]::new('--hold', '--hold', [CompletionResultType]::ParameterName, 'Keep the connection this long after CONNACK and report whether the broker drops it (default: one PINGREQ round trip). A PINGREQ goes out whenever the keepalive passes without the doctor sending anything, so a hold longer than a load balancer''s idle timeout, with --keepalive below it, checks that the keepalive keeps connections alive')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Tunnel through this proxy: http://[USER:PASS@]HOST:PORT (HTTP CONNECT), socks5://… or socks5h://… (the proxy resolves the broker''s name) [default: https_proxy, HTTPS_PROXY, all_proxy or ALL_PROXY, unless NO_PROXY lists the broker or it is on this machine]')
            [CompletionResult]::new('--ws-path', '--ws-path', [CompletionResultType]::ParameterName, 'HTTP path of the WebSocket endpoint, for ws:// and wss:// targets that name none [default: /mqtt]')
            [CompletionResult]::new('--ws-header', '--ws-header', [CompletionResultType]::ParameterName, 'Extra header for the WebSocket upgrade, as ''Name: value'' (repeatable). Values are never shown, only their length and fingerprint')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'From the start of one run to the start of the next, e.g. 500ms, 5s, 1m; a run that takes longer is followed at once (runs never overlap). Zero is refused: back-to-back connections to a broker are a load test, not a watch')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Stop after N runs [default: until Ctrl-C]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The targets are the nodes of one cluster (e.g. each node''s own address behind a load balancer): check each, then compare their failures, certificates and capabilities')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures (exit code 1)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show passing findings with their evidence too')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show passing findings with their evidence too')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only failures (text format): nothing at all when the broker is healthy')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only failures (text format): nothing at all when the broker is healthy')
            [CompletionResult]::new('--k8s-api', '--k8s-api', [CompletionResultType]::ParameterName, 'In a pod: fetch those resources from the Kubernetes API server itself, with the pod''s ServiceAccount token and CA (at most five list requests, in --k8s-namespace), and check the client against them as --k8s-resources does. The ServiceAccount needs a Role with get and list on brokers, brokerlisteners, brokerauthentications, brokerauthorizations (mqttbroker.iot.azure.com) and services (see docs/guide/pod.md)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Use TLS even though the target''s scheme is plain (mqtt://, tcp://)')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the broker''s certificate (reported as a warning, never silently)')
            [CompletionResult]::new('--jwt-secret-base64', '--jwt-secret-base64', [CompletionResultType]::ParameterName, 'The --jwt-secret is base64-encoded (EMQX''s secret_base64_encoded)')
            [CompletionResult]::new('--no-proxy', '--no-proxy', [CompletionResultType]::ParameterName, 'Connect directly, ignoring the proxy environment variables')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mqtt-doctor;explain' {
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Rank a code''s causes for this broker')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'List every finding id with its title')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mqtt-doctor;token' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Decode a token and check its claims (and signature, given a key), without any network')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mqtt-doctor;token;inspect' {
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'The token itself, when no FILE is given')
            [CompletionResult]::new('--audience', '--audience', [CompletionResultType]::ParameterName, 'Audience the broker expects in the token''s aud claim (Azure IoT Operations: aio-internal)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer the broker expects in the token''s iss claim')
            [CompletionResult]::new('--jwt-secret', '--jwt-secret', [CompletionResultType]::ParameterName, 'HMAC secret to check an HS256/HS384/HS512 signature with')
            [CompletionResult]::new('--jwt-key', '--jwt-key', [CompletionResultType]::ParameterName, 'PEM public key or certificate to check an RS*/PS*/ES*/EdDSA signature with')
            [CompletionResult]::new('--jwks', '--jwks', [CompletionResultType]::ParameterName, 'JWKS file to check the signature with (the key is picked by kid)')
            [CompletionResult]::new('--token-expiry-warning', '--token-expiry-warning', [CompletionResultType]::ParameterName, 'Warn when the token expires within this time')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--deadline', '--deadline', [CompletionResultType]::ParameterName, 'Time allowed for the whole run: reading the token or a key from a file, a pipe or standard input gives up after it')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('--jwt-secret-base64', '--jwt-secret-base64', [CompletionResultType]::ParameterName, 'The --jwt-secret is base64-encoded (EMQX''s secret_base64_encoded)')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures (exit code 1)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mqtt-doctor;token;help' {
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Decode a token and check its claims (and signature, given a key), without any network')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mqtt-doctor;token;help;inspect' {
            break
        }
        'mqtt-doctor;token;help;help' {
            break
        }
        'mqtt-doctor;presets' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mqtt-doctor;schema' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mqtt-doctor;serve' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file whose profiles ([profiles.NAME]) are the modules [default: ./mqtt-doctor.toml when present]')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on for HTTP')
            [CompletionResult]::new('--timeout-offset', '--timeout-offset', [CompletionResultType]::ParameterName, 'Taken off Prometheus'' scrape timeout (X-Prometheus-Scrape-Timeout-Seconds) to give a probe''s time limit, so that the answer arrives before Prometheus gives up')
            [CompletionResult]::new('--max-concurrent', '--max-concurrent', [CompletionResultType]::ParameterName, 'Probes run at the same time; more wait for a turn within their time limit, then get HTTP 503')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mqtt-doctor;completions' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mqtt-doctor;man' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mqtt-doctor;help' {
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Diagnose the connection to a broker, stage by stage (DNS, TCP, proxy, TLS, WebSocket, credentials, MQTT)')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Run the doctor again and again, for failures that come and go: a line per run, then a summary (success ratios, latency percentiles, root causes, flaps)')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Explain a finding id (`explain tcp.refused`) or a CONNACK code (`explain 134`), offline')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Work with tokens (JWTs, Kubernetes ServiceAccount tokens) offline')
            [CompletionResult]::new('presets', 'presets', [CompletionResultType]::ParameterValue, 'List the presets (--preset NAME) and the defaults each one sets')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the JSON Schema (2020-12) of the JSON reports: doctor''s, several targets'', token inspect''s (also in docs/report.schema.json)')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve Prometheus metrics: each scrape of /probe?target=URL&module=NAME runs one doctor check, with a config file''s profiles as the modules')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print a man page (roff): the top page, or a command''s (`man doctor`, `man token-inspect`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mqtt-doctor;help;doctor' {
            break
        }
        'mqtt-doctor;help;watch' {
            break
        }
        'mqtt-doctor;help;explain' {
            break
        }
        'mqtt-doctor;help;token' {
            [CompletionResult]::new('inspect', 'inspect', [CompletionResultType]::ParameterValue, 'Decode a token and check its claims (and signature, given a key), without any network')
            break
        }
        'mqtt-doctor;help;token;inspect' {
            break
        }
        'mqtt-doctor;help;presets' {
            break
        }
        'mqtt-doctor;help;schema' {
            break
        }
        'mqtt-doctor;help;serve' {
            break
        }
        'mqtt-doctor;help;completions' {
            break
        }
        'mqtt-doctor;help;man' {
            break
        }
        'mqtt-doctor;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
