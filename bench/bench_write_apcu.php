<?php
// bench_write_apcu.php - the APCu rows of the write benchmark
// (bench/bench_write.c runs it; see bench/README.md).
//
//   php -d apc.enable_cli=1 -d apc.shm_size=256M bench_write_apcu.php \
//       OP PROCS SECONDS WARMUP VALUE_SIZE KEYS
//
// OP is put (apcu_store of a VALUE_SIZE-byte string under a random key of
// KEYS, "%016d") or incr (apcu_inc of one counter). PROCS children forked
// with pcntl_fork share APCu's segment; they start together, run WARMUP
// seconds untimed, then time every call for SECONDS. Prints one line:
// "OPS MEDIAN_NS P99_NS OK", OPS the timed calls of all children, OK 1
// when (incr) the counter equals every call made, warm-up's included.
// Exits 3 when APCu or pcntl is missing.

if (!function_exists('apcu_store') || !function_exists('pcntl_fork') || !apcu_enabled()) {
    exit(3);
}
if ($argc != 7) {
    fwrite(STDERR, "usage: OP PROCS SECONDS WARMUP VALUE_SIZE KEYS\n");
    exit(2);
}
[$op, $procs, $secs, $warm, $vsize, $keys] =
    [$argv[1], (int)$argv[2], (float)$argv[3], (float)$argv[4], (int)$argv[5], (int)$argv[6]];
if (($op !== 'put' && $op !== 'incr') || $procs < 1 || $secs <= 0 || $keys < 1) {
    exit(2);
}

$dir = sys_get_temp_dir() . '/fc-bw-apcu.' . getmypid();
@mkdir($dir, 0700);
apcu_store('ctr', 0);
$value = str_repeat('v', $vsize);
$start = microtime(true) + 0.2 + 0.02 * $procs;   // after every fork

// One child: waits for the common start, warms up, times each call.
function child(string $op, float $start, float $warm, float $secs, string $value, int $keys,
               string $out): void
{
    while (microtime(true) < $start) {
        usleep(200);
    }
    $warmEnd = $start + $warm;
    $end = $warmEnd + $secs;
    $n = 0;
    while (microtime(true) < $warmEnd) {
        if ($op === 'put') {
            apcu_store(sprintf('%016d', mt_rand(0, $keys - 1)), $value);
        } else {
            apcu_inc('ctr');
        }
        $n++;
    }
    $lat = [];
    $t0 = hrtime(true);
    $endNs = $t0 + (int)(($end - microtime(true)) * 1e9);
    while ($t0 < $endNs) {
        if ($op === 'put') {
            apcu_store(sprintf('%016d', mt_rand(0, $keys - 1)), $value);
        } else {
            apcu_inc('ctr');
        }
        $t1 = hrtime(true);
        $lat[] = $t1 - $t0;
        $t0 = $t1;
    }
    file_put_contents($out, pack('P', $n) . pack('V*', ...$lat));
}

$kids = [];
for ($c = 0; $c < $procs; $c++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        child($op, $start, $warm, $secs, $value, $keys, "$dir/$c");
        exit(0);
    }
    $kids[] = $pid;
}
$failed = false;
foreach ($kids as $k) {
    pcntl_waitpid($k, $st);
    $failed = $failed || !pcntl_wifexited($st) || pcntl_wexitstatus($st) !== 0;
}
$all = [];
$calls = 0;
for ($c = 0; $c < $procs; $c++) {
    $raw = @file_get_contents("$dir/$c");
    @unlink("$dir/$c");
    if ($raw === false || strlen($raw) < 8) {
        $failed = true;
        continue;
    }
    $calls += unpack('P', substr($raw, 0, 8))[1];
    $lat = strlen($raw) > 8 ? unpack('V*', substr($raw, 8)) : [];
    $calls += count($lat);
    array_push($all, ...$lat);
}
@rmdir($dir);
if ($failed || count($all) == 0) {
    exit(4);
}
sort($all);
$n = count($all);
$ok = $op !== 'incr' || apcu_fetch('ctr') === $calls;
printf("%d %d %d %d\n", $n, $all[intdiv($n, 2)], $all[(int)(($n - 1) * 0.99)], $ok ? 1 : 0);
