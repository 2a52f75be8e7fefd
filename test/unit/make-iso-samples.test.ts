import * as fs from 'node:fs';
import * as path from 'node:path';
import { auditCloudConfig } from '../../actions/make-iso/src/audit.js';
import { renderCloudConfig } from '../../actions/make-iso/src/cloud-config.js';
import { parseInputs, type Role } from '../../actions/make-iso/src/inputs.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { exampleInputs, SAMPLES } from '../helpers/make-iso-fixtures.js';

/**
 * workflows-examples/samples/{master,slave}.cloud-config.yml are what make-iso writes for the
 * documented example input set (samples/cloud-config.inputs.yml). Regenerate them with
 * `UPDATE_SAMPLES=1` when the generator changes on purpose, and review the diff.
 */
describe('the sample cloud-configs', () => {
  const settings = parseInputs(actionInputs('make-iso', exampleInputs()));

  test.each(['master', 'slave'] as Role[])(
    '%s.cloud-config.yml equals what make-iso makes, byte for byte',
    (role) => {
      const file = path.join(SAMPLES, `${role}.cloud-config.yml`);
      const made = renderCloudConfig(settings, role);
      if (process.env.UPDATE_SAMPLES === '1') fs.writeFileSync(file, made);
      expect(fs.readFileSync(file).equals(Buffer.from(made))).toBe(true);
      expect(auditCloudConfig(made).passed).toBe(true);
    },
  );
});
