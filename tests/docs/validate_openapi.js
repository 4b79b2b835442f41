// validate_openapi.js DOCUMENT - validates an OpenAPI document with
// @apidevtools/swagger-parser (pinned in package.json / package-lock.json):
// the OpenAPI 3.1 schema, and every $ref resolving. Run from the directory
// the package was installed into (tests/docs/openapi_valid.sh copies it
// there). Prints "valid" or the validator's complaint; exit 0 or 1.
'use strict';
const SwaggerParser = require('@apidevtools/swagger-parser');

const file = process.argv[2];
if (!file) {
  console.error('usage: validate_openapi.js DOCUMENT');
  process.exit(2);
}
SwaggerParser.validate(file)
  .then((api) => {
    if (!/^3\.1\./.test(api.openapi)) {
      console.error(`${file}: openapi is "${api.openapi}", not 3.1.x`);
      process.exit(1);
    }
    console.log(`${file}: valid OpenAPI ${api.openapi} (${api.info.title} ${api.info.version})`);
  })
  .catch((err) => {
    console.error(`${file}: not valid OpenAPI: ${err.message}`);
    process.exit(1);
  });
