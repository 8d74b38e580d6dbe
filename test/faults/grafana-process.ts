/**
 * The Grafana API contract fake (test/env/grafana-contract-server.ts) as a process of its own, so that the
 * fault tests can freeze it (SIGSTOP) and kill it like a real server. Listens on 127.0.0.1:$PORT with the
 * admin named in GRAFANA_ADMIN_USER / GRAFANA_ADMIN_PASSWORD; its users live in memory, so a restart
 * starts with the admin only, as a Grafana that lost its users would.
 */
import { startGrafanaContractServer } from '../env/grafana-contract-server.ts';

const { PORT, GRAFANA_ADMIN_USER, GRAFANA_ADMIN_PASSWORD } = process.env;
if (PORT === undefined || GRAFANA_ADMIN_USER === undefined || GRAFANA_ADMIN_PASSWORD === undefined)
  throw new Error('PORT, GRAFANA_ADMIN_USER and GRAFANA_ADMIN_PASSWORD are required');
const server = await startGrafanaContractServer({
  adminUser: GRAFANA_ADMIN_USER,
  adminPassword: GRAFANA_ADMIN_PASSWORD,
  port: Number(PORT),
});
console.log(`grafana contract fake listening on ${server.url}`);
process.once('SIGTERM', () => {
  void server.stop().then(() => process.exit(0));
});
