
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
            cand doctor 'Diagnose the connection to a broker, stage by stage (DNS, TCP, TLS)'
            cand explain 'Print the page that explains a finding id, e.g. `explain tcp.refused`'
            cand completions 'Print a shell completion script'
            cand man 'Print the man page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mqtt-doctor;doctor'= {
            cand -t 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s'
            cand --timeout 'Time allowed for each network step (DNS query, TCP connect, ...), e.g. 500ms, 2s'
            cand --deadline 'Time allowed for the whole run; no step outlives it'
            cand --dns-server 'Ask this DNS server (ADDR or ADDR:PORT) instead of the ones in /etc/resolv.conf'
            cand -f 'Output format'
            cand --format 'Output format'
            cand --root 'Read well-known files (etc/resolv.conf, etc/hosts) below this directory, e.g. a copy of a pod''s filesystem; the system resolver is then not consulted'
            cand --cafile 'CA certificates (PEM bundle) to trust instead of the system roots'
            cand --capath 'Directory of CA certificates (PEM files) to trust instead of the system roots'
            cand --servername 'Name to send as SNI and to check the certificate against (default: the target host)'
            cand --alpn 'ALPN protocols to offer, comma-separated or repeated (e.g. mqtt)'
            cand --cert 'Client certificate (PEM, leaf first) for mutual TLS; needs --key'
            cand --key 'Private key (PEM) of the client certificate; needs --cert'
            cand --expiry-warning 'Warn when the broker''s certificate expires within this time'
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand --strict 'Treat warnings as failures (exit code 1)'
            cand -v 'Show passing findings with their evidence too'
            cand --verbose 'Show passing findings with their evidence too'
            cand --tls 'Use TLS even though the target''s scheme is plain (mqtt://, tcp://)'
            cand --insecure 'Do not verify the broker''s certificate (reported as a warning, never silently)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mqtt-doctor;explain'= {
            cand --color 'When to colour the output (NO_COLOR in the environment turns colour off for `auto`)'
            cand --list 'List every finding id with its title'
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
            cand doctor 'Diagnose the connection to a broker, stage by stage (DNS, TCP, TLS)'
            cand explain 'Print the page that explains a finding id, e.g. `explain tcp.refused`'
            cand completions 'Print a shell completion script'
            cand man 'Print the man page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mqtt-doctor;help;doctor'= {
        }
        &'mqtt-doctor;help;explain'= {
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
