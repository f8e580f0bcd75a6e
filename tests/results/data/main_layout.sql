BEGIN TRANSACTION;
CREATE TABLE lume_paths (
	id INTEGER NOT NULL, 
	path VARCHAR(500) NOT NULL, 
	multi BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (path)
);
INSERT INTO "lume_paths" VALUES(1,'provenance.run_id',0);
INSERT INTO "lume_paths" VALUES(2,'provenance.asset_key',0);
INSERT INTO "lume_paths" VALUES(3,'provenance.partition_key',0);
INSERT INTO "lume_paths" VALUES(4,'provenance.code_sha',0);
INSERT INTO "lume_paths" VALUES(5,'provenance.files',0);
INSERT INTO "lume_paths" VALUES(6,'provenance.deployment_id',0);
INSERT INTO "lume_paths" VALUES(7,'provenance.input_files',0);
INSERT INTO "lume_paths" VALUES(8,'inputs.k',0);
INSERT INTO "lume_paths" VALUES(9,'inputs.i',0);
INSERT INTO "lume_paths" VALUES(10,'outputs.sigma',0);
INSERT INTO "lume_paths" VALUES(11,'outputs.label',0);
INSERT INTO "lume_paths" VALUES(12,'inputs.tags',1);
INSERT INTO "lume_paths" VALUES(13,'inputs.p',0);
INSERT INTO "lume_paths" VALUES(14,'inputs.p.q',0);
INSERT INTO "lume_paths" VALUES(15,'outputs.ok',0);
INSERT INTO "lume_paths" VALUES(16,'outputs.none',0);
CREATE TABLE lume_provenance (
	id INTEGER NOT NULL, 
	project VARCHAR(200) NOT NULL, 
	digest VARCHAR(64) NOT NULL, 
	document TEXT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_lume_provenance_digest UNIQUE (project, digest)
);
INSERT INTO "lume_provenance" VALUES(1,'old','34244b92ca153bd6ec87a8c786e79c8d56bec27f1ee44a17467648f6df4fad51','{"run_id":"run-main","asset_key":"scan","partition_key":"0","code_sha":"0000000000000000000000000000000000000000","files":{},"deployment_id":null,"input_files":{}}');
CREATE TABLE lume_provenance_fields (
	owner_id INTEGER NOT NULL, 
	path_id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	kind SMALLINT NOT NULL, 
	num DOUBLE, 
	text VARCHAR, 
	PRIMARY KEY (owner_id, path_id, seq)
)
 WITHOUT ROWID

;
INSERT INTO "lume_provenance_fields" VALUES(1,1,0,3,NULL,'run-main');
INSERT INTO "lume_provenance_fields" VALUES(1,2,0,3,NULL,'scan');
INSERT INTO "lume_provenance_fields" VALUES(1,3,0,3,NULL,'0');
INSERT INTO "lume_provenance_fields" VALUES(1,4,0,3,NULL,'0000000000000000000000000000000000000000');
INSERT INTO "lume_provenance_fields" VALUES(1,5,0,4,NULL,NULL);
INSERT INTO "lume_provenance_fields" VALUES(1,6,0,1,NULL,NULL);
INSERT INTO "lume_provenance_fields" VALUES(1,7,0,4,NULL,NULL);
CREATE TABLE lume_result_fields (
	owner_id INTEGER NOT NULL, 
	path_id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	kind SMALLINT NOT NULL, 
	num DOUBLE, 
	text VARCHAR, 
	PRIMARY KEY (owner_id, path_id, seq)
)
 WITHOUT ROWID

;
INSERT INTO "lume_result_fields" VALUES(1,8,0,2,2.5,NULL);
INSERT INTO "lume_result_fields" VALUES(1,9,0,2,5.0,NULL);
INSERT INTO "lume_result_fields" VALUES(1,10,0,2,1.66666666666666657414e-01,NULL);
INSERT INTO "lume_result_fields" VALUES(1,11,0,3,NULL,'p5');
INSERT INTO "lume_result_fields" VALUES(2,8,0,2,1.5,NULL);
INSERT INTO "lume_result_fields" VALUES(2,9,0,2,3.0,NULL);
INSERT INTO "lume_result_fields" VALUES(2,10,0,2,0.25,NULL);
INSERT INTO "lume_result_fields" VALUES(2,11,0,3,NULL,'p3');
INSERT INTO "lume_result_fields" VALUES(3,8,0,2,0.0,NULL);
INSERT INTO "lume_result_fields" VALUES(3,9,0,2,0.0,NULL);
INSERT INTO "lume_result_fields" VALUES(3,10,0,2,1.0,NULL);
INSERT INTO "lume_result_fields" VALUES(3,11,0,3,NULL,'p0');
INSERT INTO "lume_result_fields" VALUES(4,8,0,2,2.0,NULL);
INSERT INTO "lume_result_fields" VALUES(4,9,0,2,4.0,NULL);
INSERT INTO "lume_result_fields" VALUES(4,10,0,2,0.2,NULL);
INSERT INTO "lume_result_fields" VALUES(4,11,0,3,NULL,'p4');
INSERT INTO "lume_result_fields" VALUES(5,12,0,5,NULL,NULL);
INSERT INTO "lume_result_fields" VALUES(5,12,1,2,1.0,NULL);
INSERT INTO "lume_result_fields" VALUES(5,12,2,2,2.0,NULL);
INSERT INTO "lume_result_fields" VALUES(5,13,0,4,NULL,NULL);
INSERT INTO "lume_result_fields" VALUES(5,14,0,2,1.5,NULL);
INSERT INTO "lume_result_fields" VALUES(5,15,0,8,1.0,NULL);
INSERT INTO "lume_result_fields" VALUES(5,16,0,1,NULL,NULL);
INSERT INTO "lume_result_fields" VALUES(6,8,0,2,0.5,NULL);
INSERT INTO "lume_result_fields" VALUES(6,9,0,2,1.0,NULL);
INSERT INTO "lume_result_fields" VALUES(6,10,0,2,0.5,NULL);
INSERT INTO "lume_result_fields" VALUES(6,11,0,3,NULL,'p1');
INSERT INTO "lume_result_fields" VALUES(7,8,0,2,1.0,NULL);
INSERT INTO "lume_result_fields" VALUES(7,9,0,2,2.0,NULL);
INSERT INTO "lume_result_fields" VALUES(7,10,0,2,3.33333333333333314829e-01,NULL);
INSERT INTO "lume_result_fields" VALUES(7,11,0,3,NULL,'p2');
CREATE TABLE lume_results (
	id INTEGER NOT NULL, 
	project VARCHAR(200) NOT NULL, 
	inputs_hash VARCHAR(64) NOT NULL, 
	model VARCHAR(200) NOT NULL, 
	version VARCHAR(200) NOT NULL, 
	created_ms BIGINT NOT NULL, 
	published BOOLEAN NOT NULL, 
	provenance_id INTEGER NOT NULL, 
	document TEXT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_lume_results_hash UNIQUE (project, inputs_hash)
);
INSERT INTO "lume_results" VALUES(1,'old','0c05d5a44d1abe9d34782858fb57b51706db2d3fa95e874f6b76dd9091d200f0','focus','1.0',1796175928446,1,1,'{"inputs":{"k":2.5,"i":5},"outputs":{"sigma":0.16666666666666666,"label":"p5"}}');
INSERT INTO "lume_results" VALUES(2,'old','32a66bb8cd2fb67b79bbf134aadc6c86916b865ef662989a012442c400f40cec','focus','1.0',1796175928446,0,1,'{"inputs":{"k":1.5,"i":3},"outputs":{"sigma":0.25,"label":"p3"}}');
INSERT INTO "lume_results" VALUES(3,'old','41583ea3abf735fad7abb88ce8aec3984dbdb459b0a581f6e523f90b87c6a0c9','focus','1.0',1796175928446,1,1,'{"inputs":{"k":0.0,"i":0},"outputs":{"sigma":1.0,"label":"p0"}}');
INSERT INTO "lume_results" VALUES(4,'old','591c3c41e9d18914b65853a2b16ed12111cddb38454c52e5b56daa998011b71a','focus','1.0',1796175928446,1,1,'{"inputs":{"k":2.0,"i":4},"outputs":{"sigma":0.2,"label":"p4"}}');
INSERT INTO "lume_results" VALUES(5,'old','8acfe37f61e1e3d7e0dda68f28c368a164e0c7f7035a2bc6ccd689bf2cbe64f5','other','2',1796175928446,1,1,'{"inputs":{"tags":[1,2],"p":{"q":1.5}},"outputs":{"ok":true,"none":null}}');
INSERT INTO "lume_results" VALUES(6,'old','b68e797a95793141c8c4f4a643af7206c100fb1058542a8ceab950f84157e4a6','focus','1.0',1796175928446,1,1,'{"inputs":{"k":0.5,"i":1},"outputs":{"sigma":0.5,"label":"p1"}}');
INSERT INTO "lume_results" VALUES(7,'old','f23b0e1d27408888a401f0b7a64ab8f5e71e25cff5b7752c961ae334dadb34ab','focus','1.0',1796175928446,1,1,'{"inputs":{"k":1.0,"i":2},"outputs":{"sigma":0.3333333333333333,"label":"p2"}}');
CREATE INDEX ix_lume_results_model ON lume_results (project, model, created_ms);
CREATE INDEX ix_lume_result_fields_text ON lume_result_fields (path_id, kind, text, owner_id) WHERE text IS NOT NULL;
CREATE INDEX ix_lume_result_fields_num ON lume_result_fields (path_id, kind, num, owner_id);
CREATE INDEX ix_lume_provenance_fields_text ON lume_provenance_fields (path_id, kind, text, owner_id) WHERE text IS NOT NULL;
CREATE INDEX ix_lume_provenance_fields_num ON lume_provenance_fields (path_id, kind, num, owner_id);
COMMIT;
