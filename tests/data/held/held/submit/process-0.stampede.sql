BEGIN TRANSACTION;
CREATE TABLE dbversion (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	version_number INTEGER, 
	version VARCHAR(50) NOT NULL, 
	version_timestamp INTEGER NOT NULL
);
INSERT INTO "dbversion" VALUES(1,14,'14',1796589130);
CREATE TABLE ensemble (
	id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	created DATETIME NOT NULL, 
	updated DATETIME NOT NULL, 
	state VARCHAR(6) NOT NULL, 
	max_running INTEGER NOT NULL, 
	max_planning INTEGER NOT NULL, 
	username VARCHAR(100) NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT ensemble_state CHECK (state IN ('PAUSED', 'ACTIVE', 'HELD')), 
	CONSTRAINT "UNIQUE_ENSEMBLE" UNIQUE (name, username)
);
CREATE TABLE ensemble_workflow (
	id INTEGER NOT NULL, 
	ensemble_id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	basedir VARCHAR(512) NOT NULL, 
	created DATETIME NOT NULL, 
	updated DATETIME NOT NULL, 
	state VARCHAR(11) NOT NULL, 
	priority INTEGER NOT NULL, 
	wf_uuid VARCHAR(36), 
	submitdir VARCHAR(512), 
	plan_command VARCHAR(1024) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(ensemble_id) REFERENCES ensemble (id), 
	CONSTRAINT ensemble_wf_state CHECK (state IN ('RUN_FAILED', 'RUNNING', 'PLAN_FAILED', 'FAILED', 'READY', 'ABORTED', 'SUCCESSFUL', 'PLANNING', 'QUEUED')), 
	CONSTRAINT "UNIQUE_ENSEMBLE_WORKFLOW" UNIQUE (ensemble_id, name)
);
CREATE TABLE host (
	host_id INTEGER NOT NULL, 
	wf_id INTEGER NOT NULL, 
	site VARCHAR(255) NOT NULL, 
	hostname VARCHAR(255) NOT NULL, 
	ip VARCHAR(255) NOT NULL, 
	uname VARCHAR(255), 
	total_memory INTEGER, 
	PRIMARY KEY (host_id), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE, 
	CONSTRAINT "UNIQUE_HOST" UNIQUE (wf_id, site, hostname, ip)
);
INSERT INTO "host" VALUES(1,1,'local','workflow.isi.edu','128.9.46.53','linux-4.18.0-425.10.1.el8_7.x86_64-x86_64',NULL);
CREATE TABLE integrity (
	integrity_id INTEGER NOT NULL, 
	wf_id INTEGER NOT NULL, 
	job_instance_id INTEGER NOT NULL, 
	type VARCHAR(7) NOT NULL, 
	file_type VARCHAR(6), 
	count INTEGER NOT NULL, 
	duration NUMERIC(10, 3) NOT NULL, 
	PRIMARY KEY (integrity_id), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE, 
	FOREIGN KEY(job_instance_id) REFERENCES job_instance (job_instance_id) ON DELETE CASCADE, 
	CONSTRAINT integrity_type_desc CHECK (type IN ('check', 'compute')), 
	CONSTRAINT integrity_file_type_desc CHECK (file_type IN ('input', 'output')), 
	CONSTRAINT "UNIQUE_INTEGRITY" UNIQUE (job_instance_id, type, file_type)
);
CREATE TABLE invocation (
	invocation_id INTEGER NOT NULL, 
	wf_id INTEGER NOT NULL, 
	job_instance_id INTEGER NOT NULL, 
	task_submit_seq INTEGER NOT NULL, 
	start_time NUMERIC(16, 6) NOT NULL, 
	remote_duration NUMERIC(10, 3) NOT NULL, 
	remote_cpu_time NUMERIC(10, 3), 
	exitcode INTEGER NOT NULL, 
	transformation TEXT NOT NULL, 
	executable TEXT NOT NULL, 
	argv TEXT, 
	abs_task_id VARCHAR(255), 
	maxrss INTEGER, 
	avg_cpu NUMERIC(16, 6), 
	PRIMARY KEY (invocation_id), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE, 
	FOREIGN KEY(job_instance_id) REFERENCES job_instance (job_instance_id) ON DELETE CASCADE, 
	CONSTRAINT "UNIQUE_INVOCATION" UNIQUE (job_instance_id, task_submit_seq)
);
INSERT INTO "invocation" VALUES(1,1,1,1,1677911028,2.222,0.221,0,'pegasus::dirmanager','/home/mzalam/pegasus-5.0.5/bin/pegasus-transfer','pegasus-kickstart  -n pegasus::dirmanager -N null -i - -R local  -L process -T 2023-03-03T21:52:43-08:00 pegasus-transfer ',NULL,19232,9.9459945994599466279e-02);
INSERT INTO "invocation" VALUES(2,1,1,-2,1677911034,1,1,0,'dagman::post','/home/mzalam/pegasus-5.0.5/bin/pegasus-exitcode',' -r $RETURN -l process-0.exitcode.log -M process-0.cache.meta   .//00/00/create_dir_process_0_local.out',NULL,NULL,NULL);
INSERT INTO "invocation" VALUES(3,1,2,1,1677911075,0,NULL,1,'ls','/home/mzalam/processwf/submit/mzalam/pegasus/process/run0001/00/00/ls_ID0000001.sh',NULL,'ID0000001',NULL,NULL);
INSERT INTO "invocation" VALUES(4,1,2,-2,1677911079,0,0,256,'dagman::post','/home/mzalam/pegasus-5.0.5/bin/pegasus-exitcode',' -r $RETURN -s PegasusLite:+exitcode+0 -l process-0.exitcode.log -M process-0.cache.meta   .//00/00/ls_ID0000001.out',NULL,NULL,NULL);
CREATE TABLE job (
	job_id INTEGER NOT NULL, 
	wf_id INTEGER NOT NULL, 
	exec_job_id VARCHAR(255) NOT NULL, 
	submit_file VARCHAR(255) NOT NULL, 
	type_desc VARCHAR(14) NOT NULL, 
	clustered BOOLEAN NOT NULL, 
	max_retries INTEGER NOT NULL, 
	executable TEXT NOT NULL, 
	argv TEXT, 
	task_count INTEGER NOT NULL, 
	PRIMARY KEY (job_id), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE, 
	CONSTRAINT job_type_desc CHECK (type_desc IN ('unknown', 'compute', 'stage-in-tx', 'stage-out-tx', 'registration', 'inter-site-tx', 'create-dir', 'staged-compute', 'cleanup', 'chmod', 'dax', 'dag')), 
	CHECK (clustered IN (0, 1)), 
	CONSTRAINT "UNIQUE_JOB" UNIQUE (wf_id, exec_job_id)
);
INSERT INTO "job" VALUES(1,1,'cleanup_process_0_local','00/00/cleanup_process_0_local.sub','cleanup',0,1,'/home/mzalam/pegasus-5.0.5/share/pegasus/sh/pegasus-lite-local.sh','pegasus-kickstart  -n pegasus::cleanup -N null -i - -R local  -L process -T 2023-03-03T21:52:43-08:00 pegasus-transfer ',0);
INSERT INTO "job" VALUES(2,1,'register_local_0_0','00/00/register_local_0_0.sub','registration',0,1,'/home/mzalam/pegasus-5.0.5/bin/../bin/pegasus-kickstart',' -n pegasus::rc-client -N null -R local  -L process -T 2023-03-03T21:52:43-08:00 /home/mzalam/pegasus-5.0.5/bin/pegasus-rc-client --prefix pegasus.catalog.replica.output --conf /home/mzalam/processwf/submit/mzalam/pegasus/process/run0001/pegasus.5327005374169176428.properties -v --meta /home/mzalam/processwf/submit/mzalam/pegasus/process/run0001/00/00/ls_ID0000001.meta --insert /home/mzalam/processwf/submit/mzalam/pegasus/process/run0001/00/00/register_local_0_0.in',0);
INSERT INTO "job" VALUES(3,1,'stage_out_local_local_0_0','00/00/stage_out_local_local_0_0.sub','stage-out-tx',0,1,'/home/mzalam/pegasus-5.0.5/share/pegasus/sh/pegasus-lite-local.sh','/home/mzalam/pegasus-5.0.5/bin/../bin/pegasus-kickstart  -n pegasus::transfer -N null -i - -R local  -L process -T 2023-03-03T21:52:43-08:00 /home/mzalam/pegasus-5.0.5/bin/../bin/pegasus-transfer  --threads 2 -m 1',0);
INSERT INTO "job" VALUES(4,1,'ls_ID0000001','00/00/ls_ID0000001.sub','compute',0,1,'/home/mzalam/processwf/submit/mzalam/pegasus/process/run0001/00/00/ls_ID0000001.sh',NULL,1);
INSERT INTO "job" VALUES(5,1,'create_dir_process_0_local','00/00/create_dir_process_0_local.sub','create-dir',0,1,'/home/mzalam/pegasus-5.0.5/share/pegasus/sh/pegasus-lite-local.sh','pegasus-kickstart  -n pegasus::dirmanager -N null -i - -R local  -L process -T 2023-03-03T21:52:43-08:00 pegasus-transfer ',0);
CREATE TABLE job_edge (
	wf_id INTEGER NOT NULL, 
	parent_exec_job_id VARCHAR(255) NOT NULL, 
	child_exec_job_id VARCHAR(255) NOT NULL, 
	PRIMARY KEY (wf_id, parent_exec_job_id, child_exec_job_id), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE
);
INSERT INTO "job_edge" VALUES(1,'stage_out_local_local_0_0','cleanup_process_0_local');
INSERT INTO "job_edge" VALUES(1,'stage_out_local_local_0_0','register_local_0_0');
INSERT INTO "job_edge" VALUES(1,'ls_ID0000001','stage_out_local_local_0_0');
INSERT INTO "job_edge" VALUES(1,'create_dir_process_0_local','ls_ID0000001');
CREATE TABLE job_instance (
	job_instance_id INTEGER NOT NULL, 
	job_id INTEGER NOT NULL, 
	host_id INTEGER, 
	job_submit_seq INTEGER NOT NULL, 
	sched_id VARCHAR(255), 
	site VARCHAR(255), 
	user VARCHAR(255), 
	work_dir TEXT, 
	cluster_start NUMERIC(16, 6), 
	cluster_duration NUMERIC(10, 3), 
	local_duration NUMERIC(10, 3), 
	subwf_id INTEGER, 
	stdout_file VARCHAR(255), 
	stdout_text TEXT, 
	stderr_file VARCHAR(255), 
	stderr_text TEXT, 
	stdin_file VARCHAR(255), 
	multiplier_factor INTEGER NOT NULL, 
	exitcode INTEGER, 
	PRIMARY KEY (job_instance_id), 
	FOREIGN KEY(job_id) REFERENCES job (job_id) ON DELETE CASCADE, 
	FOREIGN KEY(host_id) REFERENCES host (host_id) ON DELETE SET NULL, 
	FOREIGN KEY(subwf_id) REFERENCES workflow (wf_id) ON DELETE SET NULL, 
	CONSTRAINT "UNIQUE_JOB_INSTANCE" UNIQUE (job_id, job_submit_seq)
);
INSERT INTO "job_instance" VALUES(1,5,1,1,'2.0','local','mzalam','/home/mzalam/wf/condor/local/spool/local_univ_execute/dir_133047',NULL,NULL,3,NULL,'00/00/create_dir_process_0_local.out.000','#@ 1 stdout%0A2023-03-03 22:23:48,966    INFO:  Reading URL pairs from stdin%0A2023-03-03 22:23:48,967    INFO:  1 transfers loaded%0A2023-03-03 22:23:48,967    INFO:  PATH=/home/mzalam/pegasus-5.0.5/bin:/home/mzalam/pegasus-5.0.5/bin:/home/mzalam/wf/condor/bin:/home/mzalam/wf/condor/sbin:/home/mzalam/wf/bin:/home/mzalam/.local/bin:/home/mzalam/bin:/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin:/bin:/usr/bin:/usr/local/bin:/opt/local/bin%0A2023-03-03 22:23:48,967    INFO:  LD_LIBRARY_PATH=%0A2023-03-03 22:23:49,014    INFO:  --------------------------------------------------------------------------------%0A2023-03-03 22:23:49,015    INFO:  Starting transfers - attempt 1%0A2023-03-03 22:23:51,017    INFO:  /bin/mkdir -p %27/home/mzalam/processwf/scratch/mzalam/pegasus/process/run0001%27%0A2023-03-03 22:23:51,028    INFO:  --------------------------------------------------------------------------------%0A2023-03-03 22:23:51,028    INFO:  Stats: no local files in the transfer set%0A2023-03-03 22:23:51,028    INFO:  All transfers completed successfully.%0A%0A','00/00/create_dir_process_0_local.err.000','DEBUG: Adding default values to PATH - /bin:/usr/bin:/usr/local/bin:/opt/local/bin%0A','00/00/create_dir_process_0_local.in',1,0);
INSERT INTO "job_instance" VALUES(2,4,NULL,2,'3.0','condorpool','mzalam','/home/mzalam/processwf/submit/mzalam/pegasus/process/run0001',NULL,NULL,NULL,NULL,'00/00/ls_ID0000001.out.000',NULL,'00/00/ls_ID0000001.err.000',NULL,NULL,1,256);
INSERT INTO "job_instance" VALUES(3,4,NULL,3,'4.0','condorpool',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,1,NULL);
CREATE TABLE jobstate (
	job_instance_id INTEGER NOT NULL, 
	state VARCHAR(255) NOT NULL, 
	timestamp NUMERIC(16, 6) NOT NULL, 
	jobstate_submit_seq INTEGER NOT NULL, 
	reason TEXT, 
	PRIMARY KEY (job_instance_id, state, timestamp, jobstate_submit_seq), 
	FOREIGN KEY(job_instance_id) REFERENCES job_instance (job_instance_id) ON DELETE CASCADE
);
INSERT INTO "jobstate" VALUES(1,'SUBMIT',1677911024,1,NULL);
INSERT INTO "jobstate" VALUES(1,'EXECUTE',1677911028,2,NULL);
INSERT INTO "jobstate" VALUES(1,'JOB_TERMINATED',1677911031,3,NULL);
INSERT INTO "jobstate" VALUES(1,'POST_SCRIPT_STARTED',1677911034,5,NULL);
INSERT INTO "jobstate" VALUES(1,'POST_SCRIPT_TERMINATED',1677911035,6,NULL);
INSERT INTO "jobstate" VALUES(1,'JOB_SUCCESS',1677911034,4,NULL);
INSERT INTO "jobstate" VALUES(1,'POST_SCRIPT_SUCCESS',1677911039,7,NULL);
INSERT INTO "jobstate" VALUES(2,'SUBMIT',1677911044,1,NULL);
INSERT INTO "jobstate" VALUES(2,'JOB_HELD',1677911064,3,' Transfer input files failure at access point workflow.isi.edu while sending files to execution point slot1@workflow.isi.edu. Details: reading from file /home/mzalam/processwf/submit/mzalam/pegasus/process/run0001/pegasus-worker-5.0.5-x86_64_rhel_8.tar.gz: (errno 2) No such file or directory');
INSERT INTO "jobstate" VALUES(2,'JOB_ABORTED',1677911075,4,NULL);
INSERT INTO "jobstate" VALUES(2,'POST_SCRIPT_STARTED',1677911079,5,NULL);
INSERT INTO "jobstate" VALUES(2,'POST_SCRIPT_TERMINATED',1677911079,6,NULL);
INSERT INTO "jobstate" VALUES(2,'JOB_FAILURE',1677911075,4,NULL);
INSERT INTO "jobstate" VALUES(2,'POST_SCRIPT_FAILED',1677911084,7,NULL);
INSERT INTO "jobstate" VALUES(3,'SUBMIT',1677911089,1,NULL);
INSERT INTO "jobstate" VALUES(3,'JOB_HELD',1677911099,3,' Transfer input files failure at access point workflow.isi.edu while sending files to execution point slot1@workflow.isi.edu. Details: reading from file /home/mzalam/processwf/submit/mzalam/pegasus/process/run0001/pegasus-worker-5.0.5-x86_64_rhel_8.tar.gz: (errno 2) No such file or directory');
CREATE TABLE master_workflow (
	wf_id INTEGER NOT NULL, 
	wf_uuid VARCHAR(255) NOT NULL, 
	dax_label VARCHAR(255), 
	dax_version VARCHAR(255), 
	dax_file VARCHAR(255), 
	dag_file_name VARCHAR(255), 
	timestamp NUMERIC(16, 6), 
	submit_hostname VARCHAR(255), 
	submit_dir TEXT, 
	planner_arguments TEXT, 
	user VARCHAR(255), 
	grid_dn VARCHAR(255), 
	planner_version VARCHAR(255), 
	db_url TEXT, 
	archived BOOLEAN NOT NULL, 
	PRIMARY KEY (wf_id), 
	CHECK (archived IN (0, 1)), 
	CONSTRAINT "UNIQUE_MASTER_WF_UUID" UNIQUE (wf_uuid)
);
CREATE TABLE master_workflowstate (
	wf_id INTEGER NOT NULL, 
	state VARCHAR(19) NOT NULL, 
	timestamp NUMERIC(16, 6) NOT NULL, 
	restart_count INTEGER NOT NULL, 
	status INTEGER, 
	reason TEXT, 
	PRIMARY KEY (wf_id, state, timestamp), 
	FOREIGN KEY(wf_id) REFERENCES master_workflow (wf_id) ON DELETE CASCADE, 
	CONSTRAINT master_workflow_state CHECK (state IN ('WORKFLOW_STARTED', 'WORKFLOW_TERMINATED'))
);
CREATE TABLE rc_lfn (
	lfn_id INTEGER NOT NULL, 
	lfn VARCHAR(245) NOT NULL, 
	PRIMARY KEY (lfn_id), 
	CONSTRAINT "UNIQUE_LFN" UNIQUE (lfn)
);
CREATE TABLE rc_meta (
	lfn_id INTEGER NOT NULL, 
	"key" VARCHAR(245) NOT NULL, 
	value VARCHAR(245) NOT NULL, 
	PRIMARY KEY (lfn_id, "key"), 
	FOREIGN KEY(lfn_id) REFERENCES rc_lfn (lfn_id) ON DELETE CASCADE
);
CREATE TABLE rc_pfn (
	pfn_id INTEGER NOT NULL, 
	lfn_id INTEGER NOT NULL, 
	pfn VARCHAR(245) NOT NULL, 
	site VARCHAR(245), 
	PRIMARY KEY (pfn_id), 
	FOREIGN KEY(lfn_id) REFERENCES rc_lfn (lfn_id) ON DELETE CASCADE, 
	CONSTRAINT "UNIQUE_PFN" UNIQUE (lfn_id, pfn, site)
);
CREATE TABLE tag (
	tag_id INTEGER NOT NULL, 
	wf_id INTEGER NOT NULL, 
	job_instance_id INTEGER NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	count INTEGER NOT NULL, 
	PRIMARY KEY (tag_id), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE, 
	FOREIGN KEY(job_instance_id) REFERENCES job_instance (job_instance_id) ON DELETE CASCADE, 
	CONSTRAINT "UNIQUE_TAG" UNIQUE (wf_id, job_instance_id)
);
CREATE TABLE task (
	task_id INTEGER NOT NULL, 
	wf_id INTEGER NOT NULL, 
	job_id INTEGER, 
	abs_task_id VARCHAR(255) NOT NULL, 
	transformation TEXT NOT NULL, 
	argv TEXT, 
	type_desc VARCHAR(255) NOT NULL, 
	PRIMARY KEY (task_id), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE, 
	FOREIGN KEY(job_id) REFERENCES job (job_id) ON DELETE SET NULL, 
	CONSTRAINT "UNIQUE_TASK" UNIQUE (wf_id, abs_task_id)
);
INSERT INTO "task" VALUES(1,1,4,'ID0000001','ls','-l /','compute');
CREATE TABLE task_edge (
	wf_id INTEGER NOT NULL, 
	parent_abs_task_id VARCHAR(255) NOT NULL, 
	child_abs_task_id VARCHAR(255) NOT NULL, 
	PRIMARY KEY (wf_id, parent_abs_task_id, child_abs_task_id), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE
);
CREATE TABLE task_meta (
	task_id INTEGER NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	value VARCHAR(255) NOT NULL, 
	PRIMARY KEY (task_id, "key"), 
	FOREIGN KEY(task_id) REFERENCES task (task_id) ON DELETE CASCADE
);
CREATE TABLE "trigger" (
	id INTEGER NOT NULL, 
	ensemble_id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	state VARCHAR(7) NOT NULL, 
	workflow TEXT NOT NULL, 
	args TEXT, 
	type VARCHAR(12) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(ensemble_id) REFERENCES ensemble (id), 
	CONSTRAINT trigger_state CHECK (state IN ('STOPPED', 'RUNNING', 'READY', 'FAILED')), 
	CONSTRAINT trigger_type CHECK (type IN ('CRON', 'FILE_PATTERN')), 
	CONSTRAINT "UNIQUE_TRIGGER" UNIQUE (ensemble_id, name)
);
CREATE TABLE workflow (
	wf_id INTEGER NOT NULL, 
	wf_uuid VARCHAR(255) NOT NULL, 
	dag_file_name VARCHAR(255), 
	timestamp NUMERIC(16, 6), 
	submit_hostname VARCHAR(255), 
	submit_dir TEXT, 
	planner_arguments TEXT, 
	user VARCHAR(255), 
	grid_dn VARCHAR(255), 
	planner_version VARCHAR(255), 
	dax_label VARCHAR(255), 
	dax_version VARCHAR(255), 
	dax_file VARCHAR(255), 
	db_url TEXT, 
	parent_wf_id INTEGER, 
	root_wf_id INTEGER, 
	PRIMARY KEY (wf_id), 
	FOREIGN KEY(parent_wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE, 
	CONSTRAINT "UNIQUE_WF_UUID" UNIQUE (wf_uuid)
);
INSERT INTO "workflow" VALUES(1,'f00c0056-abd4-4e8e-b793-24eb760dda1f','process-0.dag',1677911013,'workflow.isi.edu','/home/mzalam/processwf/submit/mzalam/pegasus/process/run0001','--conf pegasus.properties --dir submit --sites condorpool --output-sites local --cleanup leaf --force workflow.yml','mzalam',NULL,'5.0.5','process','5.0.4','/home/mzalam/processwf/workflow.yml',NULL,NULL,1);
CREATE TABLE workflow_files (
	wf_id INTEGER NOT NULL, 
	task_id INTEGER NOT NULL, 
	lfn_id INTEGER NOT NULL, 
	file_type VARCHAR(255), 
	PRIMARY KEY (wf_id, task_id, lfn_id), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE, 
	FOREIGN KEY(task_id) REFERENCES task (task_id) ON DELETE CASCADE, 
	FOREIGN KEY(lfn_id) REFERENCES rc_lfn (lfn_id) ON DELETE CASCADE
);
CREATE TABLE workflow_meta (
	wf_id INTEGER NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	value VARCHAR(255) NOT NULL, 
	PRIMARY KEY (wf_id, "key"), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE
);
INSERT INTO "workflow_meta" VALUES(1,'wf.api','python');
CREATE TABLE workflowstate (
	wf_id INTEGER NOT NULL, 
	state VARCHAR(19) NOT NULL, 
	timestamp NUMERIC(16, 6) NOT NULL, 
	restart_count INTEGER NOT NULL, 
	status INTEGER, 
	reason TEXT, 
	PRIMARY KEY (wf_id, state, timestamp), 
	FOREIGN KEY(wf_id) REFERENCES workflow (wf_id) ON DELETE CASCADE, 
	CONSTRAINT workflow_state CHECK (state IN ('WORKFLOW_STARTED', 'WORKFLOW_TERMINATED'))
);
INSERT INTO "workflowstate" VALUES(1,'WORKFLOW_STARTED',1677911023,0,NULL,NULL);
CREATE INDEX "workflowstate_timestamp_COL" ON workflowstate (timestamp);
CREATE INDEX "job_exec_job_id_COL" ON job (exec_job_id);
CREATE INDEX "job_type_desc_COL" ON job (type_desc);
CREATE INDEX "task_abs_task_id_COL" ON task (abs_task_id);
CREATE INDEX "task_wf_id_COL" ON task (wf_id);
CREATE INDEX "jobstate_jobstate_submit_seq_COL" ON jobstate (jobstate_submit_seq);
CREATE INDEX "invoc_wf_id_COL" ON invocation (wf_id);
CREATE INDEX "invoc_abs_task_id_COL" ON invocation (abs_task_id);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('dbversion',1);
COMMIT;
