<?php
// A legacy PHP endpoint behind the gateway (run by `php -S`): it reports
// the top-level names PHP's own request parsing produced, so that a test
// can tell whether a second access_token reached the application.
//
// get, post, files, request: the keys of $_GET, $_POST, $_FILES and
// $_REQUEST. input: the keys parse_str() finds in php://input when the body
// is a form or has no Content-Type (what PHP code reading the body of a PUT,
// PATCH or DELETE does; PHP consumes multipart/form-data itself).
$raw = file_get_contents('php://input');
$type = strtolower($_SERVER['CONTENT_TYPE'] ?? '');
$input = [];
if ($type === '' || str_starts_with($type, 'application/x-www-form-urlencoded')) {
    parse_str($raw, $input);
}
$names = fn ($a) => array_map('strval', array_keys($a));
header('Content-Type: application/json');
echo json_encode([
    'parser' => 'php ' . PHP_VERSION,
    'get' => $names($_GET),
    'post' => $names($_POST),
    'files' => $names($_FILES),
    'request' => $names($_REQUEST),
    'input' => $names($input),
], JSON_INVALID_UTF8_SUBSTITUTE);
