
use builtin;
use str;

set edit:completion:arg-completer[mqtt-doctor] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'mqtt-doctor'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'mqtt-doctor'= {
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand doctor 'Diagnose the connection to a broker, stage by stage (DNS, TCP, proxy, TLS, WebSocket, credentials, MQTT)'
            cand watch 'Run the doctor again and again, for failures that come and go: a line per run, then a summary (success ratios, latency percentiles, root causes, flaps)'
            cand explain 'Explain a finding id (`explain tcp.refused`) or a CONNACK code (`explain 134`), offline'
            cand token 'Work with tokens (JWTs, Kubernetes ServiceAccount tokens) offline'
            cand presets 'List the presets (--preset NAME) and the defaults each one sets'
            cand schema 'Print the JSON Schema (2020-12) of the JSON reports: doctor''s, several targets'', token inspect''s (also in docs/report.schema.json)'
            cand serve 'Serve Prometheus metrics: each scrape of /probe?target=URL&module=NAME runs one doctor check, with a config file''s profiles as the modules'
            cand completions 'Print a shell completion script'
            cand man 'Print a man page (roff): the top page, or a command''s (`man doctor`, `man token-inspect`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mqtt-doctor;doctor'= {
            cand --preset 'Defaults for a broker family: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (`mqtt-doctor presets` shows them); any option overrides them'
            cand --config 'Config file with settings and named profiles [default: ./mqtt-doctor.toml when present]'
            cand --profile 'The profile of the config file to use ([profiles.NAME])'
            cand -t 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s'
            cand --timeout 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s'
            cand --deadline 'Time allowed for the whole run; no step outlives it'
            cand --dns-server 'Ask this DNS server (ADDR or ADDR:PORT) instead of the ones in /etc/resolv.conf'
            cand --nodes 'Check up to N of the addresses the target''s name resolves to, each over its own connection (TCP, TLS, MQTT, topics), and compare them; 1 checks one address, as a client does'
            cand -f 'Output format'
            cand --format 'Output format'
            cand --output 'Also write the report of this same run to FILE, in FORMAT (text, json, junit); repeatable, e.g. --output junit=report.xml --output json=report.json. Text in a file has no colours'
            cand --annotations 'GitHub Actions annotations (::error::/::warning:: lines on stderr); `auto` writes them when GITHUB_ACTIONS=true'
            cand --root 'Read every well-known file below this directory: etc/resolv.conf, etc/hosts, the ServiceAccount files, the preset''s token and CA. E.g. a copy of a pod''s filesystem, or /proc/1/root from `kubectl debug --target`; the system resolver is then not consulted'
            cand --k8s-resources 'Azure IoT Operations'' resources to check the client against before connecting: what `kubectl get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services -A -o json` (or -o yaml) prints, or - to read it from standard input. The host must be a listener''s Service, the port one of its ports with the scheme''s TLS mode, the token''s audience one its BrokerAuthentication accepts, the client id and --publish/--subscribe topics allowed by its BrokerAuthorization'
            cand --k8s-namespace 'The namespace --k8s-api lists the resources in: where the broker runs'
            cand --cafile 'CA certificates (PEM bundle) to trust instead of the system roots'
            cand --capath 'Directory of CA certificates (PEM files) to trust instead of the system roots'
            cand --servername 'Name to send as SNI and to check the certificate against (default: the target host)'
            cand --alpn 'ALPN protocols to offer, comma-separated or repeated (e.g. mqtt)'
            cand --cert 'Client certificate (PEM, leaf first) for mutual TLS; needs --key'
            cand --key 'Private key (PEM) of the client certificate; needs --cert'
            cand --expiry-warning 'Warn when the broker''s certificate expires within this time'
            cand --save-chain 'Write the certificate chain the broker presents to FILE as PEM, leaf first, trusted or not (what `openssl s_client -showcerts` is used for); with several nodes, one file per node, its address in the name'
            cand -u 'Username to send in CONNECT'
            cand --username 'Username to send in CONNECT'
            cand -P 'Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`'
            cand --password 'Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`'
            cand --password-file 'File holding the password (one line)'
            cand --token 'Token (a JWT such as a Kubernetes ServiceAccount token), or - to read it from stdin'
            cand --token-file 'File holding the token, e.g. /var/run/secrets/tokens/broker-sat'
            cand --audience 'Audience the broker expects in the token''s aud claim (Azure IoT Operations: aio-internal)'
            cand --issuer 'Issuer the broker expects in the token''s iss claim'
            cand --jwt-secret 'HMAC secret to check an HS256/HS384/HS512 signature with'
            cand --jwt-key 'PEM public key or certificate to check an RS*/PS*/ES*/EdDSA signature with'
            cand --jwks 'JWKS file to check the signature with (the key is picked by kid)'
            cand --token-expiry-warning 'Warn when the token expires within this time'
            cand --mqtt-version 'MQTT version: 5, 3.1.1, or auto (5, then 3.1.1 if the broker only speaks that, or stays silent on MQTT 5)'
            cand -i 'Client id to connect with (default: a random mqtt-doctor-… id). A device connected with the same id is disconnected by the broker'
            cand --client-id 'Client id to connect with (default: a random mqtt-doctor-… id). A device connected with the same id is disconnected by the broker'
            cand --keepalive 'Keepalive to announce, in seconds. During --hold the doctor sends a PINGREQ whenever this long passes without it sending anything, as a client does'
            cand --auth-method 'MQTT 5 enhanced authentication method (e.g. K8S-SAT); the token is sent as its data'
            cand --broker 'The broker''s family, for causes and fixes in its own terms: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (default: recognised from what the broker shows, with the confidence the report states)'
            cand --publish 'After connecting, publish at QoS 1 to TOPIC and check the broker allows it (repeatable)'
            cand --subscribe 'After connecting, subscribe to FILTER and check the broker allows it (repeatable); with --publish, a message must come back through a matching subscription'
            cand --hold 'Keep the connection this long after CONNACK and report whether the broker drops it (default: one PINGREQ round trip). A PINGREQ goes out whenever the keepalive passes without the doctor sending anything, so a hold longer than a load balancer''s idle timeout, with --keepalive below it, checks that the keepalive keeps connections alive'
            cand --proxy 'Tunnel through this proxy: http://[USER:PASS@]HOST:PORT (HTTP CONNECT), socks5://… or socks5h://… (the proxy resolves the broker''s name) [default: https_proxy, HTTPS_PROXY, all_proxy or ALL_PROXY, unless NO_PROXY lists the broker or it is on this machine]'
            cand --ws-path 'HTTP path of the WebSocket endpoint, for ws:// and wss:// targets that name none [default: /mqtt]'
            cand --ws-header 'Extra header for the WebSocket upgrade, as ''Name: value'' (repeatable). Values are never shown, only their length and fingerprint'
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand --cluster 'The targets are the nodes of one cluster (e.g. each node''s own address behind a load balancer): check each, then compare their failures, certificates and capabilities'
            cand --strict 'Treat warnings as failures (exit code 1)'
            cand -v 'Show passing findings with their evidence too'
            cand --verbose 'Show passing findings with their evidence too'
            cand -q 'Print only failures (text format): nothing at all when the broker is healthy'
            cand --quiet 'Print only failures (text format): nothing at all when the broker is healthy'
            cand --k8s-api 'In a pod: fetch those resources from the Kubernetes API server itself, with the pod''s ServiceAccount token and CA (at most five list requests, in --k8s-namespace), and check the client against them as --k8s-resources does. The ServiceAccount needs a Role with get and list on brokers, brokerlisteners, brokerauthentications, brokerauthorizations (mqttbroker.iot.azure.com) and services (see docs/guide/pod.md)'
            cand --tls 'Use TLS even though the target''s scheme is plain (mqtt://, tcp://)'
            cand --insecure 'Do not verify the broker''s certificate (reported as a warning, never silently)'
            cand --jwt-secret-base64 'The --jwt-secret is base64-encoded (EMQX''s secret_base64_encoded)'
            cand --no-proxy 'Connect directly, ignoring the proxy environment variables'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mqtt-doctor;watch'= {
            cand --preset 'Defaults for a broker family: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (`mqtt-doctor presets` shows them); any option overrides them'
            cand --config 'Config file with settings and named profiles [default: ./mqtt-doctor.toml when present]'
            cand --profile 'The profile of the config file to use ([profiles.NAME])'
            cand -t 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s'
            cand --timeout 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s'
            cand --deadline 'Time allowed for the whole run; no step outlives it'
            cand --dns-server 'Ask this DNS server (ADDR or ADDR:PORT) instead of the ones in /etc/resolv.conf'
            cand --nodes 'Check up to N of the addresses the target''s name resolves to, each over its own connection (TCP, TLS, MQTT, topics), and compare them; 1 checks one address, as a client does'
            cand -f 'Output format'
            cand --format 'Output format'
            cand --output 'Also write the report of this same run to FILE, in FORMAT (text, json, junit); repeatable, e.g. --output junit=report.xml --output json=report.json. Text in a file has no colours'
            cand --annotations 'GitHub Actions annotations (::error::/::warning:: lines on stderr); `auto` writes them when GITHUB_ACTIONS=true'
            cand --root 'Read every well-known file below this directory: etc/resolv.conf, etc/hosts, the ServiceAccount files, the preset''s token and CA. E.g. a copy of a pod''s filesystem, or /proc/1/root from `kubectl debug --target`; the system resolver is then not consulted'
            cand --k8s-resources 'Azure IoT Operations'' resources to check the client against before connecting: what `kubectl get brokers,brokerlisteners,brokerauthentications,brokerauthorizations,services -A -o json` (or -o yaml) prints, or - to read it from standard input. The host must be a listener''s Service, the port one of its ports with the scheme''s TLS mode, the token''s audience one its BrokerAuthentication accepts, the client id and --publish/--subscribe topics allowed by its BrokerAuthorization'
            cand --k8s-namespace 'The namespace --k8s-api lists the resources in: where the broker runs'
            cand --cafile 'CA certificates (PEM bundle) to trust instead of the system roots'
            cand --capath 'Directory of CA certificates (PEM files) to trust instead of the system roots'
            cand --servername 'Name to send as SNI and to check the certificate against (default: the target host)'
            cand --alpn 'ALPN protocols to offer, comma-separated or repeated (e.g. mqtt)'
            cand --cert 'Client certificate (PEM, leaf first) for mutual TLS; needs --key'
            cand --key 'Private key (PEM) of the client certificate; needs --cert'
            cand --expiry-warning 'Warn when the broker''s certificate expires within this time'
            cand --save-chain 'Write the certificate chain the broker presents to FILE as PEM, leaf first, trusted or not (what `openssl s_client -showcerts` is used for); with several nodes, one file per node, its address in the name'
            cand -u 'Username to send in CONNECT'
            cand --username 'Username to send in CONNECT'
            cand -P 'Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`'
            cand --password 'Password to send; a password that is a JWT (EMQX) is checked as a token. Prefer MQTT_DOCTOR_PASSWORD or --password-file: arguments show in `ps`'
            cand --password-file 'File holding the password (one line)'
            cand --token 'Token (a JWT such as a Kubernetes ServiceAccount token), or - to read it from stdin'
            cand --token-file 'File holding the token, e.g. /var/run/secrets/tokens/broker-sat'
            cand --audience 'Audience the broker expects in the token''s aud claim (Azure IoT Operations: aio-internal)'
            cand --issuer 'Issuer the broker expects in the token''s iss claim'
            cand --jwt-secret 'HMAC secret to check an HS256/HS384/HS512 signature with'
            cand --jwt-key 'PEM public key or certificate to check an RS*/PS*/ES*/EdDSA signature with'
            cand --jwks 'JWKS file to check the signature with (the key is picked by kid)'
            cand --token-expiry-warning 'Warn when the token expires within this time'
            cand --mqtt-version 'MQTT version: 5, 3.1.1, or auto (5, then 3.1.1 if the broker only speaks that, or stays silent on MQTT 5)'
            cand -i 'Client id to connect with (default: a random mqtt-doctor-… id). A device connected with the same id is disconnected by the broker'
            cand --client-id 'Client id to connect with (default: a random mqtt-doctor-… id). A device connected with the same id is disconnected by the broker'
            cand --keepalive 'Keepalive to announce, in seconds. During --hold the doctor sends a PINGREQ whenever this long passes without it sending anything, as a client does'
            cand --auth-method 'MQTT 5 enhanced authentication method (e.g. K8S-SAT); the token is sent as its data'
            cand --broker 'The broker''s family, for causes and fixes in its own terms: mosquitto, emqx, aio, hivemq, rabbitmq, vernemq, nanomq, ejabberd, aedes, amqtt (default: recognised from what the broker shows, with the confidence the report states)'
            cand --publish 'After connecting, publish at QoS 1 to TOPIC and check the broker allows it (repeatable)'
            cand --subscribe 'After connecting, subscribe to FILTER and check the broker allows it (repeatable); with --publish, a message must come back through a matching subscription'
            cand --hold 'Keep the connection this long after CONNACK and report whether the broker drops it (default: one PINGREQ round trip). A PINGREQ goes out whenever the keepalive passes without the doctor sending anything, so a hold longer than a load balancer''s idle timeout, with --keepalive below it, checks that the keepalive keeps connections alive'
            cand --proxy 'Tunnel through this proxy: http://[USER:PASS@]HOST:PORT (HTTP CONNECT), socks5://… or socks5h://… (the proxy resolves the broker''s name) [default: https_proxy, HTTPS_PROXY, all_proxy or ALL_PROXY, unless NO_PROXY lists the broker or it is on this machine]'
            cand --ws-path 'HTTP path of the WebSocket endpoint, for ws:// and wss:// targets that name none [default: /mqtt]'
            cand --ws-header 'Extra header for the WebSocket upgrade, as ''Name: value'' (repeatable). Values are never shown, only their length and fingerprint'
            cand --interval 'From the start of one run to the start of the next, e.g. 500ms, 5s, 1m; a run that takes longer is followed at once (runs never overlap). Zero is refused: back-to-back connections to a broker are a load test, not a watch'
            cand --count 'Stop after N runs [default: until Ctrl-C]'
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand --cluster 'The targets are the nodes of one cluster (e.g. each node''s own address behind a load balancer): check each, then compare their failures, certificates and capabilities'
            cand --strict 'Treat warnings as failures (exit code 1)'
            cand -v 'Show passing findings with their evidence too'
            cand --verbose 'Show passing findings with their evidence too'
            cand -q 'Print only failures (text format): nothing at all when the broker is healthy'
            cand --quiet 'Print only failures (text format): nothing at all when the broker is healthy'
            cand --k8s-api 'In a pod: fetch those resources from the Kubernetes API server itself, with the pod''s ServiceAccount token and CA (at most five list requests, in --k8s-namespace), and check the client against them as --k8s-resources does. The ServiceAccount needs a Role with get and list on brokers, brokerlisteners, brokerauthentications, brokerauthorizations (mqttbroker.iot.azure.com) and services (see docs/guide/pod.md)'
            cand --tls 'Use TLS even though the target''s scheme is plain (mqtt://, tcp://)'
            cand --insecure 'Do not verify the broker''s certificate (reported as a warning, never silently)'
            cand --jwt-secret-base64 'The --jwt-secret is base64-encoded (EMQX''s secret_base64_encoded)'
            cand --no-proxy 'Connect directly, ignoring the proxy environment variables'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mqtt-doctor;explain'= {
            cand --broker 'Rank a code''s causes for this broker'
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand --list 'List every finding id with its title'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mqtt-doctor;token'= {
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand inspect 'Decode a token and check its claims (and signature, given a key), without any network'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mqtt-doctor;token;inspect'= {
            cand --token 'The token itself, when no FILE is given'
            cand --audience 'Audience the broker expects in the token''s aud claim (Azure IoT Operations: aio-internal)'
            cand --issuer 'Issuer the broker expects in the token''s iss claim'
            cand --jwt-secret 'HMAC secret to check an HS256/HS384/HS512 signature with'
            cand --jwt-key 'PEM public key or certificate to check an RS*/PS*/ES*/EdDSA signature with'
            cand --jwks 'JWKS file to check the signature with (the key is picked by kid)'
            cand --token-expiry-warning 'Warn when the token expires within this time'
            cand -f 'Output format'
            cand --format 'Output format'
            cand --deadline 'Time allowed for the whole run: reading the token or a key from a file, a pipe or standard input gives up after it'
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand --jwt-secret-base64 'The --jwt-secret is base64-encoded (EMQX''s secret_base64_encoded)'
            cand --strict 'Treat warnings as failures (exit code 1)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mqtt-doctor;token;help'= {
            cand inspect 'Decode a token and check its claims (and signature, given a key), without any network'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mqtt-doctor;token;help;inspect'= {
        }
        &'mqtt-doctor;token;help;help'= {
        }
        &'mqtt-doctor;presets'= {
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mqtt-doctor;schema'= {
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mqtt-doctor;serve'= {
            cand --config 'Config file whose profiles ([profiles.NAME]) are the modules [default: ./mqtt-doctor.toml when present]'
            cand --listen 'Address to listen on for HTTP'
            cand --timeout-offset 'Taken off Prometheus'' scrape timeout (X-Prometheus-Scrape-Timeout-Seconds) to give a probe''s time limit, so that the answer arrives before Prometheus gives up'
            cand --max-concurrent 'Probes run at the same time; more wait for a turn within their time limit, then get HTTP 503'
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mqtt-doctor;completions'= {
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mqtt-doctor;man'= {
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mqtt-doctor;help'= {
            cand doctor 'Diagnose the connection to a broker, stage by stage (DNS, TCP, proxy, TLS, WebSocket, credentials, MQTT)'
            cand watch 'Run the doctor again and again, for failures that come and go: a line per run, then a summary (success ratios, latency percentiles, root causes, flaps)'
            cand explain 'Explain a finding id (`explain tcp.refused`) or a CONNACK code (`explain 134`), offline'
            cand token 'Work with tokens (JWTs, Kubernetes ServiceAccount tokens) offline'
            cand presets 'List the presets (--preset NAME) and the defaults each one sets'
            cand schema 'Print the JSON Schema (2020-12) of the JSON reports: doctor''s, several targets'', token inspect''s (also in docs/report.schema.json)'
            cand serve 'Serve Prometheus metrics: each scrape of /probe?target=URL&module=NAME runs one doctor check, with a config file''s profiles as the modules'
            cand completions 'Print a shell completion script'
            cand man 'Print a man page (roff): the top page, or a command''s (`man doctor`, `man token-inspect`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mqtt-doctor;help;doctor'= {
        }
        &'mqtt-doctor;help;watch'= {
        }
        &'mqtt-doctor;help;explain'= {
        }
        &'mqtt-doctor;help;token'= {
            cand inspect 'Decode a token and check its claims (and signature, given a key), without any network'
        }
        &'mqtt-doctor;help;token;inspect'= {
        }
        &'mqtt-doctor;help;presets'= {
        }
        &'mqtt-doctor;help;schema'= {
        }
        &'mqtt-doctor;help;serve'= {
        }
        &'mqtt-doctor;help;completions'= {
        }
        &'mqtt-doctor;help;man'= {
        }
        &'mqtt-doctor;help;help'= {
        }
    ]
    $completions[$command]
}
